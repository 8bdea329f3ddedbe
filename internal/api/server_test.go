package api_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/api"
)

// fakeBackend answers as told and counts the status calls.
type fakeBackend struct {
	mu        sync.Mutex
	healthErr error
	primary   bool
	standby   bool
	deadline  bool // the last Health call had a deadline

	statusCalls atomic.Int32
}

func (b *fakeBackend) set(healthErr error, primary, standby bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healthErr, b.primary, b.standby = healthErr, primary, standby
}

func (b *fakeBackend) Health(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, b.deadline = ctx.Deadline()
	return b.healthErr
}

func (b *fakeBackend) IsPrimary(context.Context) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.primary
}

func (b *fakeBackend) IsStandby(context.Context) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.standby
}

func (b *fakeBackend) Status(context.Context) api.Status {
	b.statusCalls.Add(1)
	return api.Status{Node: "db-1", State: "ACTIVE", Epoch: 7, Version: "test"}
}

// answer is a response read in full.
type answer struct {
	code int
	body string
	hdr  http.Header
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", a.body, err)
	}
	return m
}

func do(t *testing.T, c *http.Client, method, url, auth string) (answer, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{code: resp.StatusCode, body: string(body), hdr: resp.Header}, nil
}

func mustDo(t *testing.T, c *http.Client, method, url, auth string) answer {
	t.Helper()
	a, err := do(t, c, method, url, auth)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return a
}

// newTestServer serves a Server with token authentication over plain HTTP.
func newTestServer(t *testing.T, metrics http.Handler) (*fakeBackend, *api.Server, *httptest.Server) {
	t.Helper()
	b := &fakeBackend{}
	s := api.NewServer(b, &api.Security{Token: []byte(testToken)}, metrics, zerolog.Nop())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return b, s, ts
}

func TestProbes(t *testing.T) {
	b, _, ts := newTestServer(t, nil)
	cases := []struct {
		name             string
		health           error
		primary, standby bool
		path             string
		code             int
		field, value     string
	}{
		{"healthy", nil, false, false, "/health", 200, "status", "ok"},
		{"unhealthy", errors.New("database unreachable"), false, false, "/health", 503, "status", "unhealthy"},
		{"unhealthy says why", errors.New("database unreachable"), false, false, "/health", 503, "error", "database unreachable"},
		{"primary on the active", nil, true, false, "/primary", 200, "role", "primary"},
		{"primary on the standby", nil, false, true, "/primary", 503, "role", "not primary"},
		{"standby on the standby", nil, false, true, "/standby", 200, "role", "standby"},
		{"standby on the active", nil, true, false, "/standby", 503, "role", "not standby"},
		{"primary while neither", nil, false, false, "/primary", 503, "role", "not primary"},
		{"standby while neither", nil, false, false, "/standby", 503, "role", "not standby"},
		{"primary follows the backend, not health", errors.New("x"), true, false, "/primary", 200, "role", "primary"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.set(tc.health, tc.primary, tc.standby)
			a := mustDo(t, ts.Client(), http.MethodGet, ts.URL+tc.path, "")
			if a.code != tc.code {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, a.code, a.body, tc.code)
			}
			if got := a.json(t)[tc.field]; got != tc.value {
				t.Errorf("%s = %v, want %q (body %s)", tc.field, got, tc.value, a.body)
			}
			if ct := a.hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	b.set(nil, false, false)
	mustDo(t, ts.Client(), http.MethodGet, ts.URL+"/health", "")
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.deadline {
		t.Error("Health was called without a deadline")
	}
}

func TestMetrics(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "pgswitch_up 1\n")
	})
	_, _, ts := newTestServer(t, metrics)
	a := mustDo(t, ts.Client(), http.MethodGet, ts.URL+"/metrics", "")
	if a.code != 200 || a.body != "pgswitch_up 1\n" {
		t.Errorf("GET /metrics without a token = %d %q, want 200 and the metrics", a.code, a.body)
	}

	_, _, ts = newTestServer(t, nil)
	if a := mustDo(t, ts.Client(), http.MethodGet, ts.URL+"/metrics", ""); a.code != http.StatusNotFound {
		t.Errorf("GET /metrics without a metrics handler = %d, want 404", a.code)
	}
}

func TestStatusAuthentication(t *testing.T) {
	b, _, ts := newTestServer(t, nil)
	cases := []struct {
		name string
		auth string
		code int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer not-the-right-token", 401},
		{"Basic scheme", "Basic " + testToken, 401},
		{"token with a suffix", "Bearer " + testToken + "!", 401},
		{"right token", "Bearer " + testToken, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := b.statusCalls.Load()
			a := mustDo(t, ts.Client(), http.MethodGet, ts.URL+"/v1/status", tc.auth)
			if a.code != tc.code {
				t.Fatalf("GET /v1/status with %q = %d %s, want %d", tc.auth, a.code, a.body, tc.code)
			}
			calls := b.statusCalls.Load() - before
			if tc.code == 401 {
				if calls != 0 {
					t.Error("the backend was asked for the status of an unauthenticated request")
				}
				if got := a.hdr.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate %q", got)
				}
				if a.json(t)["error"] == nil {
					t.Errorf("401 body %q has no error", a.body)
				}
				if strings.Contains(a.body, "db-1") {
					t.Errorf("401 body leaks the status: %s", a.body)
				}
				return
			}
			if calls != 1 {
				t.Errorf("Status called %d times, want 1", calls)
			}
			var s api.Status
			if err := json.Unmarshal([]byte(a.body), &s); err != nil {
				t.Fatal(err)
			}
			if s.Node != "db-1" || s.State != "ACTIVE" || s.Epoch != 7 {
				t.Errorf("status %+v", s)
			}
		})
	}
}

// TestHandleIsAuthenticated: routes added by other packages are protected
// like /v1/status.
func TestHandleIsAuthenticated(t *testing.T) {
	_, s, ts := newTestServer(t, nil)
	var calls atomic.Int32
	s.Handle("POST /v1/switchover", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		api.WriteJSON(w, http.StatusAccepted, map[string]string{"switch_id": "s1"})
	}))
	for _, auth := range []string{"", "Bearer wrong-token-wrong-token", "Basic " + testToken} {
		a := mustDo(t, ts.Client(), http.MethodPost, ts.URL+"/v1/switchover", auth)
		if a.code != http.StatusUnauthorized {
			t.Errorf("POST /v1/switchover with %q = %d, want 401", auth, a.code)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the handler ran %d times for unauthenticated requests", n)
	}
	a := mustDo(t, ts.Client(), http.MethodPost, ts.URL+"/v1/switchover", "Bearer "+testToken)
	if a.code != http.StatusAccepted || a.json(t)["switch_id"] != "s1" || calls.Load() != 1 {
		t.Errorf("authenticated POST = %d %s, handler calls %d", a.code, a.body, calls.Load())
	}
}

// TestNoCredentialsConfigured: security without token or TLS lets nobody
// into /v1, but the probes still answer.
func TestNoCredentialsConfigured(t *testing.T) {
	b := &fakeBackend{}
	ts := httptest.NewServer(api.NewServer(b, &api.Security{}, nil, zerolog.Nop()).Handler())
	defer ts.Close()
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		if a := mustDo(t, ts.Client(), http.MethodGet, ts.URL+"/v1/status", auth); a.code != 401 {
			t.Errorf("GET /v1/status with %q = %d, want 401", auth, a.code)
		}
	}
	if a := mustDo(t, ts.Client(), http.MethodGet, ts.URL+"/health", ""); a.code != 200 {
		t.Errorf("GET /health = %d", a.code)
	}
}

// TestMutualTLS serves with the TLS configuration LoadSecurity builds from
// files and checks who gets in.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	authority := newCA(t, "pgswitch CA")
	f := writeTLS(t, dir, authority, "db-1")
	tokenFile := writeFile(t, dir, "token", []byte(testToken), 0o600)
	sec, err := api.LoadSecurity(tokenFile, f.cert, f.key, f.ca)
	if err != nil {
		t.Fatalf("LoadSecurity: %v", err)
	}

	b := &fakeBackend{}
	srv := api.NewServer(b, sec, nil, zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve returned %v after its context ended", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	base := "https://" + ln.Addr().String()

	roots := x509.NewCertPool()
	roots.AddCert(authority.cert)
	client := func(t *testing.T, cfg *tls.Config) *http.Client {
		tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	withCert := func(t *testing.T, a *ca, cn string) *http.Client {
		certPEM, keyPEM := a.issue(t, cn, false)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return client(t, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}

	t.Run("peer with the node's client TLS", func(t *testing.T) {
		a := mustDo(t, client(t, sec.ClientTLS), http.MethodGet, base+"/v1/status", "")
		if a.code != 200 {
			t.Fatalf("GET /v1/status = %d %s, want 200", a.code, a.body)
		}
	})
	t.Run("client certificate from the CA", func(t *testing.T) {
		a := mustDo(t, withCert(t, authority, "pgswitch-cli"), http.MethodGet, base+"/v1/status", "")
		if a.code != 200 {
			t.Fatalf("GET /v1/status = %d %s, want 200", a.code, a.body)
		}
		var s api.Status
		if err := json.Unmarshal([]byte(a.body), &s); err != nil || s.Node != "db-1" {
			t.Errorf("status %s: %v", a.body, err)
		}
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		c := withCert(t, newCA(t, "rogue CA"), "intruder")
		before := b.statusCalls.Load()
		a, err := do(t, c, http.MethodGet, base+"/v1/status", "")
		if err == nil && a.code == 200 {
			t.Fatalf("a certificate of another CA got in: %s", a.body)
		}
		if n := b.statusCalls.Load() - before; n != 0 {
			t.Errorf("the backend answered %d status calls for the intruder", n)
		}
	})
	t.Run("certificate from another CA sent anyway", func(t *testing.T) {
		// A Go client offers only certificates the server's CA list
		// accepts; force the rogue one onto the server.
		certPEM, keyPEM := newCA(t, "rogue CA").issue(t, "intruder", false)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		c := client(t, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
		before := b.statusCalls.Load()
		a, err := do(t, c, http.MethodGet, base+"/v1/status", "")
		if err == nil {
			t.Fatalf("the server accepted a TLS session with a rogue certificate: %d %s", a.code, a.body)
		}
		if n := b.statusCalls.Load() - before; n != 0 {
			t.Errorf("the backend answered %d status calls for the intruder", n)
		}
		// A certificate the CA signed, forced the same way, gets in.
		certPEM, keyPEM = authority.issue(t, "pgswitch-cli", false)
		good, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		c = client(t, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &good, nil }})
		if a := mustDo(t, c, http.MethodGet, base+"/v1/status", ""); a.code != 200 {
			t.Errorf("forced good certificate: %d, want 200", a.code)
		}
	})
	t.Run("self-signed client certificate", func(t *testing.T) {
		self := newCA(t, "self")
		c := withCert(t, self, "self")
		a, err := do(t, c, http.MethodGet, base+"/v1/status", "Bearer wrong-token-wrong-token")
		if err == nil && a.code == 200 {
			t.Fatalf("a self-signed certificate got in: %s", a.body)
		}
	})
	noCert := client(t, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	t.Run("health without a client certificate", func(t *testing.T) {
		a := mustDo(t, noCert, http.MethodGet, base+"/health", "")
		if a.code != 200 || a.json(t)["status"] != "ok" {
			t.Errorf("GET /health = %d %s, want 200", a.code, a.body)
		}
	})
	t.Run("v1 without certificate or token", func(t *testing.T) {
		if a := mustDo(t, noCert, http.MethodGet, base+"/v1/status", ""); a.code != 401 {
			t.Errorf("GET /v1/status = %d, want 401", a.code)
		}
	})
	t.Run("v1 with the token and no certificate", func(t *testing.T) {
		if a := mustDo(t, noCert, http.MethodGet, base+"/v1/status", "Bearer "+testToken); a.code != 200 {
			t.Errorf("GET /v1/status = %d, want 200", a.code)
		}
	})
	t.Run("the api client with the node's security", func(t *testing.T) {
		c := api.NewClient(base, sec, 10*time.Second)
		s, err := c.Status(context.Background())
		if err != nil || s.Node != "db-1" {
			t.Errorf("Client.Status = %+v, %v", s, err)
		}
	})
}
