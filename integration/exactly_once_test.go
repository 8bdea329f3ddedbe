package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

const counterSchema = `
CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
CREATE TABLE events (id bigserial PRIMARY KEY, counter int NOT NULL, at timestamptz DEFAULT clock_timestamp());
`

const counterSeed = `INSERT INTO counters SELECT generate_series(1, 20);`

// counterLoad runs n small transactions from workers clients: each adds one
// to a random counter and logs an event. A duplicated or lost transaction
// on the standby changes the counters' content hash.
func counterLoad(ctx context.Context, t *testing.T, n *harness.Node, workers, txns int) error {
	g, gctx := errgroup.WithContext(ctx)
	for w := range workers {
		g.Go(func() error {
			conn, err := n.Cluster.Conn(gctx, harness.DB)
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			for i := 0; i < txns/workers; i++ {
				k := rand.IntN(20) + 1
				if _, err := conn.Exec(gctx, fmt.Sprintf(
					"BEGIN; UPDATE counters SET n = n + 1 WHERE id = %d; INSERT INTO events (counter) VALUES (%d); COMMIT", k, k)); err != nil {
					return fmt.Errorf("worker %d: %w", w, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// Exactly-once: the standby's daemon is killed with SIGKILL again and again
// while small transactions stream in; afterwards the counters match exactly.
// Each time a backlog builds while it is down, so that the next daemon
// applies groups of source transactions (checked) and is killed while
// groups are open.
func TestExactlyOnceAcrossKill9(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 4*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	must(t, p.Init(ctx))
	must(t, p.StartDaemon(ctx, b))

	const total, kills = 4000, 6
	loadDone := make(chan error, 1)
	go func() { loadDone <- counterLoad(ctx, t, a, 4, total) }()

	events := func(n *harness.Node) (int, error) {
		s, err := n.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM events")
		var got int
		fmt.Sscan(s, &got)
		return got, err
	}
	largest := 0 // most source transactions in one local transaction, over the daemons
	seen := func() {
		t.Helper()
		st, err := p.Status(ctx, b)
		must(t, err)
		if st.Replication != nil {
			largest = max(largest, st.Replication.LargestGroup)
		}
	}
	// Kill the daemon at six points spread over the stream: whenever the
	// standby has applied another seventh of the events.
	for k := 1; k <= kills; k++ {
		pgtest.Eventually(t, time.Minute, fmt.Sprintf("the standby to apply %d events", k*total/(kills+1)), func() (bool, error) {
			got, err := events(b)
			return got >= k*total/(kills+1), err
		})
		seen()
		must(t, b.Daemon.Kill9())
		applied, err := events(b)
		must(t, err)
		pgtest.Eventually(t, time.Minute, "a backlog of 100 transactions while the daemon is down", func() (bool, error) {
			got, err := events(a)
			return got >= min(applied+100, total), err
		})
		must(t, p.StartDaemon(ctx, b))
	}
	must(t, <-loadDone)
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "counters", "events"))
	sum, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT sum(n)::text FROM counters")
	must(t, err)
	if sum != fmt.Sprint(total) {
		t.Fatalf("the standby's counters add up to %s, want %d", sum, total)
	}
	st, err := p.Status(ctx, b)
	must(t, err)
	seen()
	if largest < 2 {
		t.Fatalf("no daemon applied a group of several source transactions in one local transaction: the kills never met an open group")
	}
	t.Logf("%d kills; the last daemon applied %d of %d transactions in %d local transactions; largest group %d",
		kills, st.Replication.AppliedTxns, total, st.Replication.AppliedGroups, largest)
}

// The primary restarted mid-stream (fast, then crashed): streaming resumes
// by itself and nothing is lost or applied twice.
func TestPrimaryRestartMidStream(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 4*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	must(t, p.Init(ctx))
	must(t, p.StartDaemon(ctx, b))

	// Each outage starts while the standby streams and has caught up, and
	// writes resume right after the primary is back.
	must(t, counterLoad(ctx, t, a, 2, 500))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, a.Cluster.Restart(ctx))
	must(t, counterLoad(ctx, t, a, 2, 500))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, a.Cluster.KillPostmaster())
	must(t, a.Cluster.StartServer(ctx))
	must(t, counterLoad(ctx, t, a, 2, 500))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "counters", "events"))
	st, err := p.Status(ctx, b)
	must(t, err)
	if !st.Replication.Streaming || st.Replication.Sessions < 3 {
		t.Fatalf("after two restarts of the primary: streaming=%t sessions=%d, want streaming and at least 3 sessions",
			st.Replication.Streaming, st.Replication.Sessions)
	}
}
