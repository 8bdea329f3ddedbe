package integration

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/api"
)

// Mutual TLS for the API and the peer channel (no token at all): the
// daemons switch over and back through it; a client certificate from
// another CA is refused; the probes answer without a certificate.
func TestMutualTLS(t *testing.T) {
	dir, err := os.MkdirTemp("", "pgsw-tls-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	ca, err := harness.NewCA(dir, "pair")
	must(t, err)
	other, err := harness.NewCA(dir, "intruder")
	must(t, err)
	var certs [2]harness.CertFiles
	for i, n := range []string{"node-a", "node-b"} {
		certs[i], err = ca.Issue(n, "127.0.0.1")
		must(t, err)
	}
	foreign, err := other.Issue("intruder-client", "127.0.0.1")
	must(t, err)

	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed, TLS: &certs})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	if !strings.HasPrefix(a.APIURL(), "https://") {
		t.Fatalf("the API is not served over TLS: %s", a.APIURL())
	}
	waitRole(t, p, b, "STANDBY", true)

	for i, from := range []*harness.Node{a, a} {
		waitRole(t, p, p.Nodes[1-i], "STANDBY", true)
		out, errOut, code, err := p.Run(ctx, from, "promote")
		must(t, err)
		if code != 0 {
			t.Fatalf("promote over mutual TLS: exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(out, "done") {
			t.Fatalf("promote over mutual TLS did not finish:\n%s", out)
		}
	}
	waitState(t, p, a, "ACTIVE")
	out, _, code, err := p.Run(ctx, b, "status")
	must(t, err)
	if code != 0 || !strings.Contains(out, "STANDBY") {
		t.Fatalf("status over mutual TLS: exit %d\n%s", code, out)
	}

	// A certificate from another CA: refused.
	bad, err := tls.LoadX509KeyPair(foreign.Cert, foreign.Key)
	must(t, err)
	pool, err := api.LoadSecurity("", certs[0].Cert, certs[0].Key, certs[0].CA)
	must(t, err)
	intruder := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool.ClientTLS.RootCAs,
		// Present the foreign certificate whatever the server asks for.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad, nil },
	}}}
	for _, path := range []string{"/v1/status", "/v1/peer/status"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.APIURL()+path, nil)
		resp, err := intruder.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Fatalf("%s accepted a certificate from another CA", path)
			}
		}
	}
	// No certificate at all: the probes answer, /v1 is 401.
	waitRole(t, p, b, "STANDBY", true)
	anon := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool.ClientTLS.RootCAs}}}
	for path, want := range map[string]int{"/health": 200, "/standby": 200, "/v1/status": 401} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.APIURL()+path, nil)
		resp, err := anon.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a client certificate: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// A token file others can read stops the daemon with a clear error (exit
// 2) before it does anything.
func TestWorldReadableTokenRefused(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, time.Minute)
	must(t, p.Init(ctx))
	must(t, os.Chmod(p.TokenFile, 0o644))
	out, errOut, code, err := p.Run(ctx, p.Nodes[1], "daemon")
	must(t, err)
	if code != 2 || !strings.Contains(errOut, p.TokenFile) || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("daemon with a world-readable token: exit %d, want 2 naming the file and the fix\n%s%s", code, out, errOut)
	}
	st, err := os.ReadFile(p.Nodes[1].StateDir + "/state.json")
	must(t, err)
	if !strings.Contains(string(st), `"STANDBY"`) {
		t.Fatalf("the refused daemon changed the state: %s", st)
	}
}

// No password from a DSN reaches a log line, an error or any output.
func TestNoSecretInLogs(t *testing.T) {
	const secret = "s3cr3t-Pa55word"
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	for _, n := range []*harness.Node{a, b} {
		cfg, err := os.ReadFile(n.ConfigPath)
		must(t, err)
		withPw := strings.Replace(string(cfg), "user=postgres dbname=app connect_timeout=3", "user=postgres password="+secret+" dbname=app connect_timeout=3", 1)
		must(t, os.WriteFile(n.ConfigPath, []byte(withPw), 0o600))
	}
	var outputs []string
	run := func(n *harness.Node, args ...string) {
		out, errOut, _, err := p.Run(ctx, n, args...)
		must(t, err)
		outputs = append(outputs, out+errOut)
	}
	run(a, "check")
	run(a, "init", "--role", "primary")
	run(b, "init", "--role", "standby")
	must(t, p.StartDaemon(ctx, a))
	must(t, p.StartDaemon(ctx, b))
	waitRole(t, p, b, "STANDBY", true)
	run(a, "status")
	run(a, "promote")
	// An unreachable peer puts connection errors into logs and output.
	waitState(t, p, b, "ACTIVE")
	must(t, b.Cluster.Stop(ctx, "fast"))
	run(a, "check")
	waitFaultState(t, p, a, "primary_unreachable", true)
	must(t, b.Cluster.StartServer(ctx))
	waitFaultState(t, p, a, "primary_unreachable", false)
	outputs = append(outputs, a.Daemon.Log(), b.Daemon.Log())
	for i, o := range outputs {
		if strings.Contains(o, secret) {
			t.Fatalf("output %d contains the password:\n%s", i, o)
		}
	}
	_ = context.Background
}
