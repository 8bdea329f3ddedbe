package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// randomSchema adds counters that the application increments through the
// VIP: a replay of an old range writes old values over new ones without any
// error, so an increment missing (or one too many) shows it.
const randomSchema = netSchema + `
CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
GRANT SELECT, UPDATE ON counters TO app;
`

// randomSeed fills the counters on the first active only.
const randomSeed = `INSERT INTO counters SELECT generate_series(1, 8);`

// counterWriter increments random counters through one address as fast as
// it can, reconnecting after errors. acked counts the increments whose
// commit was acknowledged, tried those that may have committed (sent,
// whatever the answer).
type counterWriter struct {
	mu    sync.Mutex
	acked map[int]int64
	tried map[int]int64
	done  chan struct{}
}

func (np *netPair) startCounterWriter(ctx context.Context, t *testing.T, host string, seed uint64) *counterWriter {
	w := &counterWriter{acked: map[int]int64{}, tried: map[int]int64{}, done: make(chan struct{})}
	rng := rand.New(rand.NewPCG(seed, 7))
	go func() {
		defer close(w.done)
		var conn *pgx.Conn
		defer func() {
			if conn != nil {
				conn.Close(context.Background())
			}
		}()
		for ctx.Err() == nil {
			if conn == nil {
				c, err := np.clientConn(ctx, host)
				if err != nil {
					sleepCtx(ctx, 20*time.Millisecond)
					continue
				}
				conn = c
			}
			id := 1 + rng.IntN(8)
			w.mu.Lock()
			w.tried[id]++
			w.mu.Unlock()
			qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			tag, err := conn.Exec(qctx, "UPDATE counters SET n = n + 1 WHERE id = $1", id)
			cancel()
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				continue
			}
			if tag.RowsAffected() == 1 {
				w.mu.Lock()
				w.acked[id]++
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// check waits for the writer to stop and compares the counters on n with
// what was acknowledged: every acknowledged increment is there, and none
// more than were sent.
func (w *counterWriter) check(ctx context.Context, t *testing.T, n *harness.Node) int64 {
	t.Helper()
	<-w.done
	var total int64
	for id := 1; id <= 8; id++ {
		got, err := n.Cluster.QueryString(ctx, harness.DB, "SELECT n FROM counters WHERE id = $1", id)
		must(t, err)
		v, err := strconv.ParseInt(got, 10, 64)
		must(t, err)
		if v < w.acked[id] {
			t.Errorf("%s: counter %d is %d, but %d increments were acknowledged: increments lost", n.Name, id, v, w.acked[id])
		}
		if v > w.tried[id] {
			t.Errorf("%s: counter %d is %d, but only %d increments were sent: an increment applied twice", n.Name, id, v, w.tried[id])
		}
		total += w.acked[id]
	}
	return total
}

// testSeed is PGSWITCH_TEST_SEED when set (to replay a failure), else a
// fresh one; it is logged, and printed again if the test fails.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PGSWITCH_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		must(t, err)
		seed = v
	}
	t.Logf("seed %d (replay with PGSWITCH_TEST_SEED=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed with seed %d: replay with PGSWITCH_TEST_SEED=%d", seed, seed)
		}
	})
	return seed
}

// Switchovers back and forth under inserts and counter increments, each
// with kill -9 of either daemon at a random moment of the handshake —
// either after a random delay or right after it persisted a randomly chosen
// step — and a restart. After each round the pair settles by itself (one
// ACTIVE with the VIP, one STANDBY streaming, no fault: a stale slot
// replaying an old range would show as replayed_own_changes or a duplicate
// key). At the end no acknowledged write or increment is missing, none is
// applied twice, the two nodes never took direct writes in overlapping
// periods, and the tables match.
func TestRandomKill9Switchovers(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	rounds := 8
	if s := os.Getenv("PGSWITCH_TEST_ROUNDS"); s != "" {
		v, err := strconv.Atoi(s)
		must(t, err)
		rounds = v
	}
	np := newNetPair(t, harness.Options{Schema: randomSchema, Seed: randomSeed,
		Env: []string{"PGSWITCH_SWITCHOVER_STEP_TIMEOUT=3s", "PGSWITCH_SERVICE_TIMEOUT=2s"}})
	ctx := ctxFor(t, time.Duration(rounds)*40*time.Second+2*time.Minute)
	np.start(ctx, t)
	ld := np.startLoad(ctx, t)
	wctx, stopCounters := context.WithCancel(ctx)
	defer stopCounters()
	counters := np.startCounterWriter(wctx, t, np.vip, seed)

	// The steps a victim can be killed right after: those of the old
	// active, and those of the standby switching in.
	activeSteps := []string{"REQUESTING_SWITCH", "SWITCHING_OUT", "STANDBY"}
	standbySteps := []string{"AGREE_SWITCH", "SWITCHING_IN", "ACTIVE"}
	for round := range rounds {
		active, standby := np.settled(ctx, t)
		victim, steps := active, activeSteps
		if rng.IntN(2) == 1 {
			victim, steps = standby, standbySteps
		}
		var how string
		var res <-chan promoteResult
		if rng.IntN(2) == 0 {
			delay := time.Duration(rng.IntN(1500)) * time.Millisecond
			how = fmt.Sprintf("%s after %s", victim.Name, delay)
			res = np.promoteAsync(ctx, t, active)
			sleepCtx(ctx, delay) // a random moment, not a synchronisation
		} else {
			step := steps[rng.IntN(len(steps))]
			how = fmt.Sprintf("%s right after it persisted %s", victim.Name, step)
			must(t, victim.Daemon.Kill9())
			must(t, np.StartDaemonEnv(ctx, victim, []string{"PGSWITCHTEST_HOLD=" + step + "=20s"}))
			np.settled(ctx, t)
			// The victim was in another state before: wait for it to enter
			// the held one (the promote may also end before it, when the
			// other side refuses; then the round kills it at rest).
			res = np.promoteAsync(ctx, t, active)
			before := "ACTIVE"
			if victim == standby {
				before = "STANDBY"
			}
			waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
			_ = pgtest.WaitFor(waitCtx, victim.Name+" to persist "+step, func() (bool, error) {
				st, err := np.Status(waitCtx, victim)
				return err == nil && st.State == step && st.State != before, nil
			})
			cancel()
		}
		must(t, victim.Daemon.Kill9())
		must(t, np.StartDaemon(ctx, victim))
		r := <-res
		now, _ := np.settled(ctx, t)
		t.Logf("round %d: killed %s; promote exit %d; %s is active", round, how, r.code, now.Name)
	}
	stopCounters()
	res := ld.finish(ctx, t)
	var incs int64
	for _, n := range np.Nodes {
		incs = counters.check(ctx, t, n)
	}
	must(t, np.SameData(ctx, "writes", "counters"))
	t.Logf("%d rounds: %d writes through the VIP, %d direct writes and %d increments acknowledged, all present once",
		rounds, len(res.vip), len(res.direct), incs)
}

// A slot of the reverse slot's name left on the standby from an earlier
// epoch (its old active was killed before it dropped it) is not taken for
// the reverse slot: the switch-in drops it and creates a fresh one, so the
// old active follows from the switch point and not from the stale one,
// which would send it its own transactions back.
func TestStaleReverseSlotIsNotReused(t *testing.T) {
	np := newNetPair(t, harness.Options{Schema: randomSchema, Seed: randomSeed})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := np.start(ctx, t)
	must(t, np.WaitStreaming(ctx, b, true))

	// A slot on node-b at today's position, held by a session so that no
	// housekeeping drops it; writes on node-a then pass through node-b's
	// applier, into that slot's range.
	holder, err := b.Cluster.Conn(ctx, harness.DB)
	must(t, err)
	defer holder.Close(context.Background())
	_, err = holder.Exec(ctx, "SELECT pg_catalog.pg_create_logical_replication_slot('stale_src', 'pgoutput', true)")
	must(t, err)
	for i := range 50 {
		must(t, a.Cluster.Exec(ctx, harness.DB, "UPDATE counters SET n = n + 1 WHERE id = $1", 1+i%8))
	}
	must(t, np.WaitCaughtUp(ctx, a, b))

	// node-b agrees and pauses there; meanwhile the stale slot appears
	// under the reverse slot's name, at the old position.
	must(t, b.Daemon.Kill9())
	must(t, np.StartDaemonEnv(ctx, b, []string{"PGSWITCHTEST_HOLD=AGREE_SWITCH=2s"}))
	np.settled(ctx, t)
	res := np.promoteAsync(ctx, t, a)
	pgtest.Eventually(t, 30*time.Second, "node-b to agree", func() (bool, error) {
		st, err := np.Status(ctx, b)
		return err == nil && st.State == "AGREE_SWITCH", nil
	})
	var stale string
	must(t, holder.QueryRow(ctx, `SELECT (pg_catalog.pg_copy_logical_replication_slot('stale_src', 'pgswitch_node_a', false)).lsn::text`).Scan(&stale))
	r := <-res
	if r.code != 0 {
		t.Fatalf("promote failed (exit %d):\n%s", r.code, r.out)
	}
	active, standby := np.settled(ctx, t)
	if active != b {
		t.Fatalf("%s is active after the switchover to node-b", active.Name)
	}
	// (The switch-in ended the holder's session with the other clients.)
	confirmed, err := b.Cluster.QueryString(ctx, harness.DB, `SELECT confirmed_flush_lsn::text FROM pg_catalog.pg_replication_slots WHERE slot_name = 'pgswitch_node_a'`)
	must(t, err)
	staleLSN, err := replicationLSN(stale)
	must(t, err)
	cur, err := replicationLSN(confirmed)
	must(t, err)
	if cur <= staleLSN {
		t.Errorf("the reverse slot is at %s, not past the stale slot's %s: the stale slot was reused", cur, staleLSN)
	}
	for i := range 20 {
		must(t, b.Cluster.Exec(ctx, harness.DB, "UPDATE counters SET n = n + 1 WHERE id = $1", 1+i%8))
	}
	must(t, np.WaitCaughtUp(ctx, b, standby))
	np.settled(ctx, t)
	must(t, np.SameData(ctx, "counters"))
	got, err := a.Cluster.QueryString(ctx, harness.DB, "SELECT sum(n) FROM counters")
	must(t, err)
	if got != "70" {
		t.Errorf("node-a's counters sum to %s, want 70 (50 increments on node-a, 20 on node-b)", got)
	}
}
