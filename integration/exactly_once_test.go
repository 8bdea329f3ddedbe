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
func TestExactlyOnceAcrossKill9(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 4*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	must(t, p.Init(ctx))
	must(t, p.StartDaemon(ctx, b))

	const total, kills = 4000, 6
	loadDone := make(chan error, 1)
	go func() { loadDone <- counterLoad(ctx, t, a, 4, total) }()

	// Kill the daemon at six points spread over the stream: whenever the
	// standby has applied another seventh of the events.
	for k := 1; k <= kills; k++ {
		pgtest.Eventually(t, time.Minute, fmt.Sprintf("the standby to apply %d events", k*total/(kills+1)), func() (bool, error) {
			n, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM events")
			if err != nil {
				return false, err
			}
			var got int
			fmt.Sscan(n, &got)
			return got >= k*total/(kills+1), nil
		})
		must(t, b.Daemon.Kill9())
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
	t.Logf("%d kills; the last daemon applied %d of %d transactions", kills, st.Replication.AppliedTxns, total)
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
