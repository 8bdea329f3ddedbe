package pgtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NeedEtcd fails or skips the test when the etcd binary is missing ($ETCD_BIN
// or etcd on PATH), following Need's CI=true policy.
func NeedEtcd(t testing.TB) {
	t.Helper()
	if _, err := EtcdBin(); err != nil {
		missing(t, "etcd not found: %v (install etcd-server or set ETCD_BIN)", err)
	}
}

// EtcdBin returns the etcd server binary: $ETCD_BIN if set, else etcd on PATH.
func EtcdBin() (string, error) {
	if p := os.Getenv("ETCD_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("ETCD_BIN=%s: %w", p, err)
		}
		return p, nil
	}
	return exec.LookPath("etcd")
}

// EtcdMember is one etcd process of an Etcd cluster.
type EtcdMember struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string

	bin     string
	tls     *EtcdTLS // nil: plain HTTP for clients
	netns   string   // "" : the test's own
	logDir  string
	initial string // the --initial-cluster value
	proc    *Proc
}

// Etcd is a cluster of real etcd processes on loopback ports, with data
// directories in a temporary directory of the test.
type Etcd struct {
	Members []*EtcdMember
}

// StartEtcd starts an etcd cluster of n members (1 or 3) and waits until
// every member reports healthy. A cleanup kills the processes; the data
// directories are in t.TempDir, removed by the testing package.
func StartEtcd(t testing.TB, n int) *Etcd {
	t.Helper()
	return startEtcd(t, n, "", "127.0.0.1")
}

// EtcdTLS is a member's certificate and key and the CA its clients'
// certificates must be signed by (client certificate authentication).
type EtcdTLS struct{ Cert, Key, CA string }

// StartEtcdTLS starts one etcd member on loopback that serves its clients
// over TLS and requires a client certificate signed by tls.CA.
func StartEtcdTLS(t testing.TB, tls EtcdTLS) *Etcd {
	t.Helper()
	NeedEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := newEtcd(ctx, t.TempDir(), 1, "", "127.0.0.1", &tls)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return e
}

// StartEtcdIn starts one etcd member in network namespace netns, listening
// on addr (an address of that namespace), so that a test can cut the
// quorum off from one host and not another.
func StartEtcdIn(t testing.TB, netns, addr string) *Etcd {
	t.Helper()
	return startEtcd(t, 1, netns, addr)
}

func startEtcd(t testing.TB, n int, netns, addr string) *Etcd {
	t.Helper()
	NeedEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := NewEtcd(ctx, t.TempDir(), n, netns, addr)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
		if t.Failed() {
			for _, m := range e.Members {
				if m.proc != nil {
					t.Logf("pgtest: last lines of the log of etcd %s:\n%s", m.Name, tail(m.proc.Log(), 40))
				}
			}
		}
	})
	return e
}

// NewEtcd is StartEtcd (netns "", addr 127.0.0.1) or StartEtcdIn for
// callers without a testing.TB (the benchmarks): data directories and logs
// go under dir, and the caller must Close the cluster. On error nothing is
// left running.
func NewEtcd(ctx context.Context, dir string, n int, netns, addr string) (*Etcd, error) {
	return newEtcd(ctx, dir, n, netns, addr, nil)
}

func newEtcd(ctx context.Context, dir string, n int, netns, addr string, tlsFiles *EtcdTLS) (*Etcd, error) {
	bin, err := EtcdBin()
	if err != nil {
		return nil, err
	}
	e := &Etcd{}
	var initial []string
	for i := range n {
		cp, err1 := FreePort()
		pp, err2 := FreePort()
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("etcd ports: %w", err)
		}
		scheme := "http"
		if tlsFiles != nil {
			scheme = "https"
		}
		m := &EtcdMember{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("%s://%s:%d", scheme, addr, cp),
			tls:       tlsFiles,
			PeerURL:   fmt.Sprintf("http://%s:%d", addr, pp),
			netns:     netns,
			DataDir:   filepath.Join(dir, fmt.Sprintf("m%d", i)),
			bin:       bin,
			logDir:    dir,
		}
		initial = append(initial, m.Name+"="+m.PeerURL)
		e.Members = append(e.Members, m)
	}
	fail := func(err error) (*Etcd, error) {
		for _, m := range e.Members {
			if m.proc != nil {
				err = fmt.Errorf("%w\nlast lines of the log of etcd %s:\n%s", err, m.Name, tail(m.proc.Log(), 20))
			}
		}
		return nil, errors.Join(err, e.Close())
	}
	for _, m := range e.Members {
		m.initial = strings.Join(initial, ",")
		if err := m.start(); err != nil {
			return fail(err)
		}
	}
	for _, m := range e.Members {
		if err := m.WaitHealthy(ctx); err != nil {
			return fail(err)
		}
	}
	return e, nil
}

// Close kills every member and waits until they have exited.
func (e *Etcd) Close() error {
	var errs []error
	for _, m := range e.Members {
		errs = append(errs, m.Kill())
	}
	return errors.Join(errs...)
}

// Endpoints returns the client URLs of every member.
func (e *Etcd) Endpoints() []string {
	var eps []string
	for _, m := range e.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

func (m *EtcdMember) start() error {
	state := "new"
	if _, err := os.Stat(filepath.Join(m.DataDir, "member")); err == nil {
		state = "existing"
	}
	var tlsArgs []string
	if m.tls != nil {
		tlsArgs = []string{"--cert-file", m.tls.Cert, "--key-file", m.tls.Key, "--trusted-ca-file", m.tls.CA, "--client-cert-auth"}
	}
	p, err := StartProcE("etcd-"+m.Name, m.netns, m.logDir, nil, append([]string{m.bin}, append(tlsArgs,
		"--name", m.Name,
		"--data-dir", m.DataDir,
		"--listen-client-urls", m.ClientURL,
		"--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", m.initial,
		"--initial-cluster-state", state,
		"--initial-cluster-token", "pgtest",
		// Tests write little: no need for large snapshots or a big backend.
		"--snapshot-count", "10000",
		"--quota-backend-bytes", fmt.Sprint(64<<20),
		"--log-level", "warn",
	)...)...)
	if err != nil {
		return fmt.Errorf("starting etcd %s: %w", m.Name, err)
	}
	m.proc = p
	return nil
}

// WaitHealthy polls the member's /health until it reports healthy (which
// needs a quorum) or ctx ends.
func (m *EtcdMember) WaitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	tr := &http.Transport{}
	if m.netns != "" {
		tr.DialContext = NSDialer(m.netns)
	}
	if m.tls != nil {
		cfg, err := clientTLS(*m.tls)
		if err != nil {
			return err
		}
		tr.TLSClientConfig = cfg
	}
	client.Transport = tr
	return WaitFor(ctx, "etcd "+m.Name+" healthy", func() (bool, error) {
		if m.proc == nil || !m.proc.Running() {
			return false, fmt.Errorf("etcd %s is not running", m.Name)
		}
		resp, err := client.Get(m.ClientURL + "/health")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var h struct {
			Health string `json:"health"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			return false, fmt.Errorf("reading /health: %w", err)
		}
		return h.Health == "true", nil
	})
}

// Running reports whether the member's process runs.
func (m *EtcdMember) Running() bool { return m.proc != nil && m.proc.Running() }

// Kill kills the member with SIGKILL and waits until it has exited; killing
// a member that is not running is not an error.
func (m *EtcdMember) Kill() error {
	if m.proc == nil {
		return nil
	}
	if err := m.proc.Kill9(); err != nil {
		return fmt.Errorf("killing etcd %s: %w", m.Name, err)
	}
	return nil
}

// Stop stops the member with SIGTERM and waits up to 10 s for it to exit.
func (m *EtcdMember) Stop() error {
	if !m.Running() {
		return nil
	}
	if err := m.proc.Signal(os.Interrupt); err != nil {
		return fmt.Errorf("stopping etcd %s: %w", m.Name, err)
	}
	if _, err := m.proc.Wait(10 * time.Second); err != nil {
		return fmt.Errorf("stopping etcd %s: %w", m.Name, err)
	}
	return nil
}

// Restart starts a stopped or killed member again on the same data
// directory and ports; it does not wait for health (the cluster may still
// lack a quorum): call WaitHealthy.
func (m *EtcdMember) Restart() error {
	if m.Running() {
		return fmt.Errorf("restarting etcd %s: still running", m.Name)
	}
	return m.start()
}

// Signal sends sig to the member's process (SIGSTOP freezes it: its clients
// see a member that accepts connections and never answers; SIGCONT wakes it).
func (m *EtcdMember) Signal(sig os.Signal) error {
	if m.proc == nil {
		return fmt.Errorf("signalling etcd %s: not started", m.Name)
	}
	if err := m.proc.Signal(sig); err != nil {
		return fmt.Errorf("signalling etcd %s: %w", m.Name, err)
	}
	return nil
}

// clientTLS presents the member's own certificate (signed by the same CA)
// to its /health, and trusts the CA.
func clientTLS(f EtcdTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("etcd TLS: %w", err)
	}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("etcd TLS: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("etcd TLS: no certificate in %s", f.CA)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
