package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// The fence holds while the active is fenced (held in SWITCHING_OUT): an
// open client session is ended even if it makes itself read-write, a new
// client connection is refused, /primary answers 503; pgswitch's own
// sessions and the walsender keep working (the standby still catches up).
func TestFenceHolds(t *testing.T) {
	np := newNetPair(t, harness.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := np.start(ctx, t)
	must(t, a.Daemon.Kill9())
	must(t, np.StartDaemonEnv(ctx, a, []string{"PGSWITCHTEST_HOLD=SWITCHING_OUT=6s"}))
	np.settled(ctx, t)

	// A client session opened before the fence.
	early, err := np.clientConn(ctx, a.Addr)
	must(t, err)
	defer early.Close(context.Background())
	_, err = early.Exec(ctx, "INSERT INTO writes (id, via) VALUES (nextval('tickets'), 'before the fence')")
	must(t, err)

	res := np.promoteAsync(ctx, t, a)
	pgtest.Eventually(t, 20*time.Second, "node-a to be fenced in SWITCHING_OUT", func() (bool, error) {
		st, err := np.Status(ctx, a)
		return err == nil && st.State == "SWITCHING_OUT", err
	})
	_, err = early.Exec(ctx, "SET default_transaction_read_only = off; SET transaction_read_only = off; INSERT INTO writes (id, via) VALUES (nextval('tickets'), 'overriding the fence')")
	if err == nil {
		t.Fatalf("a session open before the fence wrote after it")
	}
	t.Logf("the early session: %v", err)
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	late, err := np.clientConn(cctx, a.Addr)
	cancel()
	if err == nil {
		_, werr := late.Exec(ctx, "SET default_transaction_read_only = off; INSERT INTO writes (id, via) VALUES (nextval('tickets'), 'during the fence')")
		late.Close(context.Background())
		t.Fatalf("a new client connection was accepted during the fence (write error: %v)", werr)
	}
	if !strings.Contains(err.Error(), "too many connections") {
		t.Errorf("a new client connection during the fence failed with %v, want the connection limit", err)
	}
	if code := probe(t, np.Pair, a, "/primary"); code != 503 {
		t.Errorf("/primary on the fenced node: %d, want 503", code)
	}
	r := <-res
	if r.code != 0 {
		t.Fatalf("promote exit %d:\n%s", r.code, r.out)
	}
	active, _ := np.settled(ctx, t)
	if active != b {
		t.Fatalf("%s is active, want node-b", active.Name)
	}
	n, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM writes WHERE via <> 'before the fence'")
	must(t, err)
	if n != "0" {
		t.Fatalf("%s rows written during the fence reached the new active", n)
	}
}

// libpq clients with a multi-host string and target_session_attrs=read-write
// always land on the active node, before and after a switchover.
func TestTargetSessionAttrsFindsTheActive(t *testing.T) {
	np := newNetPair(t, harness.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := np.start(ctx, t)
	bin, err := pgtest.BinDir()
	must(t, err)
	where := func() string {
		conninfo := fmt.Sprintf("host=%s,%s port=%d,%d user=app dbname=app target_session_attrs=read-write connect_timeout=3",
			b.Addr, a.Addr, np.port, np.port) // the standby first on purpose
		out, errOut, code, err := pgtest.Run(ctx, np.net.Hosts["client"].NS, nil, bin+"/psql", "-XAtq", conninfo,
			"-c", "SELECT inet_server_addr()::text || ' ' || current_setting('transaction_read_only')")
		must(t, err)
		if code != 0 {
			t.Fatalf("psql: exit %d: %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	if got := where(); !strings.HasPrefix(got, a.Addr+"/") && !strings.HasPrefix(got, a.Addr+" ") {
		t.Fatalf("read-write session landed on %q, want node-a (%s)", got, a.Addr)
	}
	// The standby shows transaction_read_only = on to clients.
	out, _, _, err := pgtest.Run(ctx, np.net.Hosts["client"].NS, nil, bin+"/psql", "-XAtq",
		fmt.Sprintf("host=%s port=%d user=app dbname=app", b.Addr, np.port), "-c", "SHOW transaction_read_only")
	must(t, err)
	if strings.TrimSpace(out) != "on" {
		t.Fatalf("the standby shows transaction_read_only=%q to clients, want on", strings.TrimSpace(out))
	}
	code, pout := np.promote(ctx, t, a)
	if code != 0 {
		t.Fatalf("promote exit %d:\n%s", code, pout)
	}
	np.settled(ctx, t)
	if got := where(); !strings.HasPrefix(got, b.Addr) {
		t.Fatalf("after the switchover a read-write session landed on %q, want node-b (%s)", got, b.Addr)
	}
}

// A forged or unauthenticated handshake message is rejected and changes
// nothing: no token (401), a wrong token (401), the wrong sender (403), a
// stale epoch or an unknown switchover (409).
func TestForgedHandshakeMessagesRejected(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitRole(t, p, b, "STANDBY", true)
	cases := []struct {
		name, token, path, body string
		want                    int
	}{
		{"no token", "", "/v1/peer/switch-out", `{"from":"node-a","switch_id":"x","epoch":1}`, 401},
		{"wrong token", strings.Repeat("f", 48), "/v1/peer/request", `{"from":"node-a","switch_id":"x","epoch":1,"fence_lsn":"0/1"}`, 401},
		{"wrong sender", p.Token, "/v1/peer/request", `{"from":"node-x","switch_id":"x","epoch":1,"fence_lsn":"0/1"}`, 403},
		{"stale epoch", p.Token, "/v1/peer/request", `{"from":"node-a","switch_id":"x","epoch":0,"fence_lsn":"0/1"}`, 409},
		{"unknown switchover", p.Token, "/v1/peer/switch-out", `{"from":"node-a","switch_id":"nope","epoch":1}`, 409},
		{"unknown field", p.Token, "/v1/peer/switch-out", `{"from":"node-a","switch_id":"nope","epoch":1,"force":true}`, 400},
		{"promote on the wrong sender", p.Token, "/v1/peer/abort", `{"from":"node-x","switch_id":"x","epoch":1}`, 403},
	}
	for _, c := range cases {
		code, body := httpDo(t, "POST", b.APIURL()+c.path, c.token, c.body)
		if code != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, code, c.want, body)
		}
	}
	for _, n := range []*harness.Node{a, b} {
		st, err := p.Status(ctx, n)
		must(t, err)
		if st.Epoch != 1 || (n == a && st.State != "ACTIVE") || (n == b && st.State != "STANDBY") || st.SwitchID != "" {
			t.Errorf("after forged messages %s is %s epoch %d switch %q", n.Name, st.State, st.Epoch, st.SwitchID)
		}
	}
	if err := b.Cluster.Exec(ctx, harness.DB, "INSERT INTO counters VALUES (999, 0)"); err == nil {
		t.Errorf("the standby became writable")
	}
}
