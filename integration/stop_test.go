package integration

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// A standby whose apply backend never answers (here: it waits for a lock a
// session on the standby holds) still stops: the session gets its grace to
// finish what is complete, then its connections are cut. Nothing is lost:
// once the lock is gone and the daemon is back, the standby has every
// transaction exactly once.
func TestStopWithAHungApplyBackend(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	must(t, p.WaitStreaming(ctx, b, false))
	must(t, p.WaitCaughtUp(ctx, a, b))

	lock, err := b.Cluster.Conn(ctx, harness.DB)
	must(t, err)
	defer lock.Close(ctx)
	_, err = lock.Exec(ctx, "BEGIN; LOCK TABLE counters IN ACCESS EXCLUSIVE MODE")
	must(t, err)
	for i := range 20 {
		must(t, a.Cluster.Exec(ctx, harness.DB, "UPDATE counters SET n = n + 1 WHERE id = $1", 1+i%5))
	}
	pgtest.Eventually(t, 30*time.Second, "node-b's apply backend to wait for the lock", func() (bool, error) {
		n, err := b.Cluster.QueryString(ctx, harness.DB, `SELECT count(*) FROM pg_catalog.pg_stat_activity
			WHERE application_name LIKE '%\_apply' AND wait_event_type = 'Lock'`)
		return n == "1", err
	})

	must(t, b.Daemon.Signal(syscall.SIGTERM))
	// The grace is 10 s; without the cut the daemon would wait for the
	// lock for ever.
	if _, err := b.Daemon.Wait(45 * time.Second); err != nil {
		t.Fatalf("node-b's daemon did not stop with its apply backend hung: %v", err)
	}
	if log := b.Daemon.Log(); !strings.Contains(log, "cutting its connections") {
		t.Errorf("the daemon's log does not say it cut the hung session:\n%s", tail(log, 30))
	}

	_, err = lock.Exec(ctx, "COMMIT")
	must(t, err)
	must(t, p.StartDaemon(ctx, b))
	must(t, p.WaitStreaming(ctx, b, false))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "counters", "events"))
}

// A walsender that goes silent without closing its connection (here it is
// stopped with SIGSTOP; a host lost without a reset looks the same) ends
// the standby's session within the receive timeout: the applier pings it,
// gets no answer, says so and reconnects, instead of waiting on the socket
// for ever. An idle primary is not taken for a silent one: the pair stays
// idle past the timeout first, with the same session streaming.
func TestStandbyNoticesASilentWalsender(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	must(t, p.WaitStreaming(ctx, b, false))
	must(t, p.WaitCaughtUp(ctx, a, b))

	st, err := p.Status(ctx, b)
	must(t, err)
	sessions := st.Replication.Sessions
	// Idle for longer than the receive timeout (15 s): the pings keep the
	// session.
	idleUntil := time.Now().Add(20 * time.Second)
	pgtest.Eventually(t, 30*time.Second, "an idle pair to outlast the receive timeout", func() (bool, error) {
		return time.Now().After(idleUntil), nil
	})
	st, err = p.Status(ctx, b)
	must(t, err)
	if st.Replication == nil || !st.Replication.Streaming || st.Replication.Sessions != sessions {
		t.Fatalf("an idle primary broke the standby's session: %+v (sessions before: %d)", st.Replication, sessions)
	}

	pid, err := a.Cluster.QueryString(ctx, harness.DB, `SELECT active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, "pgswitch_"+strings.ReplaceAll(b.Name, "-", "_"))
	must(t, err)
	var walsender int
	if _, err := fmt.Sscan(pid, &walsender); err != nil || walsender == 0 {
		t.Fatalf("no walsender for node-b's slot on node-a: %q %v", pid, err)
	}
	must(t, syscall.Kill(walsender, syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(walsender, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	stopped := time.Now()
	pgtest.Eventually(t, 45*time.Second, "node-b to give up on the silent walsender", func() (bool, error) {
		return strings.Contains(b.Daemon.Log(), "has not answered a ping"), nil
	})
	t.Logf("the standby gave up on the silent walsender after %s", time.Since(stopped).Round(time.Millisecond))
	resume()
	for i := range 20 {
		must(t, a.Cluster.Exec(ctx, harness.DB, "UPDATE counters SET n = n + 1 WHERE id = $1", 1+i%5))
	}
	must(t, p.WaitStreaming(ctx, b, false))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "counters", "events"))
	st, err = p.Status(ctx, b)
	must(t, err)
	if st.Replication.Sessions <= sessions {
		t.Errorf("node-b still counts %d sessions after the silent walsender, want more than %d", st.Replication.Sessions, sessions)
	}
}
