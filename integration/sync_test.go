package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

func waitSyncNames(t *testing.T, ctx context.Context, n *harness.Node, want string) {
	t.Helper()
	pgtest.Eventually(t, 30*time.Second, fmt.Sprintf("synchronous_standby_names on %s to be %q", n.Name, want), func() (bool, error) {
		got, err := n.Cluster.QueryString(ctx, harness.DB, "SHOW synchronous_standby_names")
		return err == nil && got == want, err
	})
}

// startSyncPair starts a pair in synchronous mode with the given
// replication.sync_degrade_after and waits until the active names its
// standby in synchronous_standby_names.
func startSyncPair(t *testing.T, degradeAfter string, d time.Duration) (context.Context, *harness.Pair, *harness.Node, *harness.Node) {
	t.Helper()
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed,
		Env: []string{"PGSWITCH_REPLICATION_SYNCHRONOUS=true", "PGSWITCH_REPLICATION_SYNC_DEGRADE_AFTER=" + degradeAfter}})
	ctx := ctxFor(t, d)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitSyncNames(t, ctx, a, `"pgswitch_node_b"`)
	return ctx, p, a, b
}

// Synchronous mode: a commit acknowledged to the client is on the standby
// even when the active's postmaster is killed right after the
// acknowledgement.
func TestSynchronousCommitSurvivesKill9(t *testing.T) {
	ctx, p, a, b := startSyncPair(t, "0s", 4*time.Minute)
	for round := 1; round <= 5; round++ {
		waitSyncNames(t, ctx, a, `"pgswitch_node_b"`)
		waitRole(t, p, b, "STANDBY", true)
		conn, err := a.Cluster.Conn(ctx, harness.DB)
		must(t, err)
		var id int64
		must(t, conn.QueryRow(ctx, "INSERT INTO events (counter) VALUES ($1) RETURNING id", round).Scan(&id))
		// Acknowledged: kill the primary at once.
		must(t, a.Cluster.KillPostmaster())
		conn.Close(context.Background())
		got, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM events WHERE id = $1", id)
		must(t, err)
		if got != "1" {
			t.Fatalf("round %d: acknowledged commit %d is not on the standby after the primary was killed", round, id)
		}
		must(t, a.Cluster.StartServer(ctx))
	}
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "events"))
}

// Synchronous mode with sync_degrade_after: when the standby goes away,
// commits wait for it at most that long (plus one supervision interval),
// then go on with the fault synchronous_degraded; when it is back, commits
// wait for it again.
func TestSynchronousDegradesWhenStandbyGone(t *testing.T) {
	ctx, p, a, b := startSyncPair(t, "2s", 3*time.Minute)

	must(t, b.Daemon.Kill9())
	start := time.Now()
	must(t, a.Cluster.Exec(ctx, harness.DB, "INSERT INTO events (counter) VALUES (1)"))
	waited := time.Since(start)
	t.Logf("a commit with the standby gone waited %s", waited.Round(time.Millisecond))
	if waited < 1500*time.Millisecond {
		t.Errorf("the commit did not wait for the standby (%s)", waited)
	}
	if waited > 2*time.Second+5*time.Second {
		t.Errorf("the commit waited %s, more than sync_degrade_after=2s plus the documented slack", waited)
	}
	st, err := p.Status(ctx, a)
	must(t, err)
	if !hasFault(st.Faults, "synchronous_degraded") {
		t.Errorf("no synchronous_degraded fault on the active: %+v", st.Faults)
	}
	_, metrics := httpGet(t, a.APIURL()+"/metrics", "")
	if !strings.Contains(metrics, `pgswitch_fault{node="node-a",reason="synchronous_degraded"} 1`) {
		t.Errorf("metrics lack the synchronous_degraded fault")
	}

	must(t, p.StartDaemon(ctx, b))
	waitSyncNames(t, ctx, a, `"pgswitch_node_b"`)
	pgtest.Eventually(t, 20*time.Second, "the degraded fault to clear", func() (bool, error) {
		st, err := p.Status(ctx, a)
		return err == nil && !hasFault(st.Faults, "synchronous_degraded"), err
	})
	must(t, counterLoad(ctx, t, a, 2, 200))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "counters", "events"))
}

// Strict synchronous mode (sync_degrade_after: 0): with the standby gone
// commits wait as long as it takes.
func TestSynchronousStrictWaits(t *testing.T) {
	ctx, p, a, b := startSyncPair(t, "0s", 3*time.Minute)
	must(t, b.Daemon.Kill9())

	conn, err := a.Cluster.Conn(ctx, harness.DB)
	must(t, err)
	defer conn.Close(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "INSERT INTO events (counter) VALUES (7)")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("in strict mode a commit returned (%v) while the standby was gone", err)
	case <-time.After(5 * time.Second):
	}
	must(t, p.StartDaemon(ctx, b))
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the commit still waits after the standby came back")
	}
	n, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM events WHERE counter = 7")
	must(t, err)
	if n != "1" {
		t.Fatalf("the commit that waited is not on the standby")
	}
}

func hasFault(fs []api.Fault, reason string) bool {
	for _, f := range fs {
		if f.Reason == reason {
			return true
		}
	}
	return false
}
