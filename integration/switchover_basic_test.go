package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// A switchover and back without a VIP: roles swap, the old active follows
// the new one from the reverse slot, data written on each side arrives on
// the other, sequences move forward.
func TestSwitchoverAndBack(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	must(t, counterLoad(ctx, t, a, 2, 300))
	waitRole(t, p, b, "STANDBY", true)

	out, errOut, code, err := p.Run(ctx, a, "promote")
	must(t, err)
	t.Logf("promote:\n%s%s", out, errOut)
	if code != 0 {
		t.Fatalf("promote exit %d", code)
	}
	for _, want := range []string{"REQUESTING_SWITCH", "AGREE_SWITCH", "SWITCHING_OUT", "SWITCHING_IN", "ACTIVE", "STANDBY", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("promote output lacks %s", want)
		}
	}
	waitState(t, p, a, "STANDBY")
	waitState(t, p, b, "ACTIVE")
	must(t, p.SameData(ctx, "counters", "events"))

	// Sequences moved forward on the new active.
	oldMax, err := a.Cluster.QueryString(ctx, harness.DB, "SELECT max(id)::text FROM events")
	must(t, err)
	newID, err := b.Cluster.QueryString(ctx, harness.DB, "INSERT INTO events (counter) VALUES (1) RETURNING id::text")
	must(t, err)
	if atoi(newID) <= atoi(oldMax) {
		t.Fatalf("nextval on the new active gave %s, not above the old active's %s", newID, oldMax)
	}
	// Writes on the new active reach the old one.
	must(t, counterLoad(ctx, t, b, 2, 300))
	waitRole(t, p, a, "STANDBY", true)
	must(t, p.WaitCaughtUp(ctx, b, a))
	must(t, p.SameData(ctx, "counters", "events"))
	// The old active refuses client writes now.
	if err := a.Cluster.Exec(ctx, harness.DB, "INSERT INTO events (counter) VALUES (2)"); err == nil {
		t.Fatalf("the old active accepted a client write")
	}

	// And back, from the standby's side this time.
	out, errOut, code, err = p.Run(ctx, a, "promote")
	must(t, err)
	t.Logf("promote back:\n%s%s", out, errOut)
	if code != 0 {
		t.Fatalf("promote back exit %d", code)
	}
	waitState(t, p, a, "ACTIVE")
	waitState(t, p, b, "STANDBY")
	must(t, counterLoad(ctx, t, a, 2, 300))
	waitRole(t, p, b, "STANDBY", true)
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "counters", "events"))
	st, err := p.Status(ctx, a)
	must(t, err)
	if st.Epoch != 3 {
		t.Fatalf("epoch after two switchovers: %d, want 3", st.Epoch)
	}
	// No forward slot is left on the standby side.
	slots, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM pg_replication_slots")
	must(t, err)
	if slots != "0" {
		t.Errorf("the standby holds %s replication slot(s); want none", slots)
	}
}

func waitState(t *testing.T, p *harness.Pair, n *harness.Node, state string) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	pgtest.Eventually(t, 30*time.Second, n.Name+" to be "+state, func() (bool, error) {
		st, err := p.Status(ctx, n)
		return err == nil && st.State == state, err
	})
}

// waitRole waits until the node's probe (/primary or /standby) answers 200.
func waitRole(t *testing.T, p *harness.Pair, n *harness.Node, state string, ok bool) {
	t.Helper()
	path := "/primary"
	if state == "STANDBY" {
		path = "/standby"
	}
	pgtest.Eventually(t, 30*time.Second, n.Name+" probe "+path, func() (bool, error) {
		return (probe(t, p, n, path) == 200) == ok, nil
	})
}

func atoi(s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// probe GETs an unauthenticated endpoint of n's API (from n's namespace if
// it has one) and returns the status code (0 when unreachable).
func probe(t *testing.T, p *harness.Pair, n *harness.Node, path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.APIURL()+path, nil)
	must(t, err)
	resp, err := p.Client(n).HTTP.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// promote --dry-run checks the preconditions only; --json prints one JSON
// object per line ending with the result; an inactive pgswitch slot that no
// role needs is dropped and a foreign one reported.
func TestPromoteDryRunJSONAndSlots(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed, Env: []string{"PGSWITCH_SUPERVISION_INTERVAL=100ms"}})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitRole(t, p, b, "STANDBY", true)

	out, _, code, err := p.Run(ctx, a, "promote", "--dry-run")
	must(t, err)
	if code != 0 || !strings.Contains(out, "dry run") {
		t.Fatalf("promote --dry-run: exit %d\n%s", code, out)
	}
	st, err := p.Status(ctx, a)
	must(t, err)
	if st.State != "ACTIVE" || st.Epoch != 1 || st.Database.ClientMode != "writable" {
		t.Fatalf("--dry-run changed something: %s epoch %d %s", st.State, st.Epoch, st.Database.ClientMode)
	}

	out, _, code, err = p.Run(ctx, b, "promote", "--json")
	must(t, err)
	if code != 0 {
		t.Fatalf("promote --json: exit %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last api.PromoteEvent
	for _, l := range lines {
		var ev api.PromoteEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("promote --json printed a line that is not JSON: %q", l)
		}
		last = ev
	}
	if last.Result == nil || last.Result.Outcome != "done" || last.Result.ExitCode != 0 || len(last.Result.Steps) < 4 {
		t.Fatalf("promote --json ends with %+v", last)
	}

	// Slots: a forgotten pgswitch slot is dropped, a foreign one reported.
	active := b
	must(t, active.Cluster.Exec(ctx, harness.DB, "SELECT pg_create_logical_replication_slot('pgswitch_forgotten', 'pgoutput')"))
	must(t, active.Cluster.Exec(ctx, harness.DB, "SELECT pg_create_logical_replication_slot('someone_elses', 'pgoutput')"))
	pgtest.Eventually(t, 30*time.Second, "the forgotten pgswitch slot to be dropped", func() (bool, error) {
		n, err := active.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM pg_replication_slots WHERE slot_name = 'pgswitch_forgotten'")
		return n == "0", err
	})
	waitFaultState(t, p, active, "stray_slot", true)
	n, err := active.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM pg_replication_slots WHERE slot_name IN ('someone_elses', 'pgswitch_node_a')")
	must(t, err)
	if n != "2" {
		t.Fatalf("a foreign slot or the peer's own slot was dropped (%s of 2 left)", n)
	}
	must(t, active.Cluster.Exec(ctx, harness.DB, "SELECT pg_drop_replication_slot('someone_elses')"))
	waitFaultState(t, p, active, "stray_slot", false)
}
