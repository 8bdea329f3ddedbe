package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	return httpDo(t, http.MethodGet, url, token, "")
}

func httpDo(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	must(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The probes for load balancers answer without authentication; every /v1
// endpoint needs the token (401 otherwise, changing nothing); metrics are
// Prometheus text.
func TestHTTPProbesAuthAndMetrics(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	must(t, counterLoad(ctx, t, a, 2, 200))
	must(t, p.WaitCaughtUp(ctx, a, b))

	pgtest.Eventually(t, 20*time.Second, "probes to settle", func() (bool, error) {
		c1, _ := httpGet(t, a.APIURL()+"/primary", "")
		c2, _ := httpGet(t, b.APIURL()+"/standby", "")
		return c1 == 200 && c2 == 200, nil
	})
	for _, c := range []struct {
		url  string
		want int
	}{
		{a.APIURL() + "/health", 200}, {b.APIURL() + "/health", 200},
		{a.APIURL() + "/primary", 200}, {b.APIURL() + "/primary", 503},
		{a.APIURL() + "/standby", 503}, {b.APIURL() + "/standby", 200},
	} {
		if code, body := httpGet(t, c.url, ""); code != c.want {
			t.Errorf("GET %s: %d, want %d: %s", c.url, code, c.want, body)
		}
	}

	// /v1 without, or with a wrong, token: 401 and nothing happens.
	for _, ep := range []struct{ method, path, body string }{
		{"GET", "/v1/status", ""},
		{"POST", "/v1/promote", `{}`},
		{"POST", "/v1/peer/request", `{"from":"node-a","switch_id":"x","epoch":1,"fence_lsn":"0/1"}`},
		{"POST", "/v1/peer/switch-out", `{"from":"node-a","switch_id":"x","epoch":1}`},
		{"POST", "/v1/peer/resolve", `{"from":"node-a","switch_id":"x","epoch":1}`},
		{"POST", "/v1/peer/abort", `{"from":"node-a","switch_id":"x","epoch":1}`},
		{"GET", "/v1/peer/status", ""},
	} {
		for _, tok := range []string{"", "wrong-token-wrong-token"} {
			if code, body := httpDo(t, ep.method, b.APIURL()+ep.path, tok, ep.body); code != 401 {
				t.Errorf("%s %s with token %q: %d, want 401: %s", ep.method, ep.path, tok, code, body)
			}
		}
	}
	st, err := p.Status(ctx, b)
	must(t, err)
	if st.State != "STANDBY" || st.Epoch != 1 {
		t.Fatalf("after unauthenticated requests the standby is %s epoch %d, want STANDBY epoch 1", st.State, st.Epoch)
	}
	if st.Replication == nil || !st.Replication.Streaming || st.Replication.AppliedTxns == 0 {
		t.Fatalf("status lacks replication figures: %+v", st.Replication)
	}

	code, metrics := httpGet(t, b.APIURL()+"/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`pgswitch_state{node="node-b",state="STANDBY"} 1`,
		`pgswitch_epoch{node="node-b"} 1`,
		`pgswitch_applier_streaming{node="node-b"} 1`,
		`pgswitch_replay_lag_bytes{node="node-b"}`,
		`pgswitch_replay_lag_seconds{node="node-b"}`,
		`pgswitch_applied_transactions_total{node="node-b"}`,
		`pgswitch_fault{node="node-b",reason="missing_slot"} 0`,
		`pgswitch_database_up{node="node-b"} 1`,
		"go_sched_gomaxprocs_threads 1", // one P unless GOMAXPROCS says otherwise
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A missing slot is a named fault in status, logs and metrics, not a
// silent stop; restoring it clears the fault.
func TestMissingSlotIsANamedFault(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	must(t, p.Init(ctx))
	must(t, a.Cluster.Exec(ctx, harness.DB, "SELECT pg_drop_replication_slot('pgswitch_node_b')"))
	must(t, p.StartDaemon(ctx, b))
	waitFault(t, ctx, p, b, "missing_slot", "pgswitch_node_b")
	_, metrics := httpGet(t, b.APIURL()+"/metrics", "")
	if !strings.Contains(metrics, `pgswitch_fault{node="node-b",reason="missing_slot"} 1`) {
		t.Errorf("metrics do not show the missing_slot fault")
	}
	if !strings.Contains(b.Daemon.Log(), `"fault":"missing_slot"`) {
		t.Errorf("the log does not name the missing_slot fault")
	}
	if code, _ := httpGet(t, b.APIURL()+"/standby", ""); code != 503 {
		t.Errorf("/standby answers %d with a missing slot, want 503", code)
	}
}

// A table missing on the standby, and a value the standby cannot store, are
// named faults; the applier retries and recovers when the schema is fixed,
// with nothing lost or applied twice.
func TestApplyFaultsAreNamed(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema + `CREATE TABLE typed (id int PRIMARY KEY, v text);`, Seed: counterSeed})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	must(t, p.Init(ctx))
	must(t, p.StartDaemon(ctx, b))
	waitFault := func(reason, detail string) { t.Helper(); waitFault(t, ctx, p, b, reason, detail) }

	// A table created on the primary only: FOR ALL TABLES publishes it.
	must(t, a.Cluster.Exec(ctx, harness.DB, "CREATE TABLE newer (id int PRIMARY KEY); INSERT INTO newer VALUES (1)"))
	waitFault("missing_table", "public.newer")
	_, metrics := httpGet(t, b.APIURL()+"/metrics", "")
	if !strings.Contains(metrics, `pgswitch_fault{node="node-b",reason="missing_table"} 1`) {
		t.Errorf("metrics do not show the missing_table fault")
	}
	must(t, b.Cluster.Exec(ctx, harness.DB, "BEGIN READ WRITE; CREATE TABLE newer (id int PRIMARY KEY); COMMIT"))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "newer"))

	// A column whose type differs: the text cannot be stored.
	must(t, b.Cluster.Exec(ctx, harness.DB, "BEGIN READ WRITE; ALTER TABLE typed ALTER COLUMN v TYPE int USING v::int; COMMIT"))
	must(t, a.Cluster.Exec(ctx, harness.DB, "INSERT INTO typed VALUES (1, 'not a number')"))
	waitFault("cannot_apply_value", "public.typed")
	must(t, b.Cluster.Exec(ctx, harness.DB, "BEGIN READ WRITE; ALTER TABLE typed ALTER COLUMN v TYPE text; COMMIT"))
	must(t, counterLoad(ctx, t, a, 2, 100))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "typed", "counters", "events", "newer"))
	pgtest.Eventually(t, 20*time.Second, "the faults to clear after the schema was fixed", func() (bool, error) {
		st, err := p.Status(ctx, b)
		if err != nil {
			return false, err
		}
		for _, f := range st.Faults {
			if f.Reason != "peer_unreachable" { // node-a's daemon is not running in this test
				return false, fmt.Errorf("fault %s: %s", f.Reason, f.Detail)
			}
		}
		return st.State == "STANDBY", nil
	})
}
