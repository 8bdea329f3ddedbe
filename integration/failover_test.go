package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/pgtest"
	"github.com/pgswitch/pgswitch/internal/quorum"
	"github.com/pgswitch/pgswitch/internal/replication"
)

// quorumPair is a pair whose daemons use one real etcd member, with the
// default lease (3 s), checking their database every 200 ms.
func quorumPair(t *testing.T, cluster string) (*harness.Pair, *pgtest.Etcd, *quorum.Client) {
	t.Helper()
	return quorumPairWith(t, cluster, nil, "PGSWITCH_SUPERVISION_INTERVAL=200ms")
}

// syncEnvironment: synchronous mode, degrading after 2 s.
var syncEnvironment = []string{"PGSWITCH_REPLICATION_SYNCHRONOUS=true", "PGSWITCH_REPLICATION_SYNC_DEGRADE_AFTER=2s", "PGSWITCH_SUPERVISION_INTERVAL=200ms"}

// quorumPairWith is quorumPair with more configuration lines and the
// daemons' environment; it returns a client of the pair's keys, closed
// with the test.
func quorumPairWith(t *testing.T, cluster string, more []string, env ...string) (*harness.Pair, *pgtest.Etcd, *quorum.Client) {
	t.Helper()
	etcd := pgtest.StartEtcd(t, 1)
	lines := append([]string{"quorum:", "  endpoints: [" + etcd.Endpoints()[0] + "]", "  cluster: " + cluster}, more...)
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed,
		Config: func(int) []string { return lines }, Env: env})
	qc, err := quorum.New(quorum.Settings{Endpoints: etcd.Endpoints(), Cluster: cluster, Prefix: "/pgswitch/", LeaseTTL: 3 * time.Second})
	must(t, err)
	t.Cleanup(func() { qc.Close() })
	return p, etcd, qc
}

// waitLeader polls etcd until the leader key names node in epoch.
func waitLeader(t *testing.T, ctx context.Context, qc *quorum.Client, node string, epoch int64) {
	t.Helper()
	pgtest.Eventually(t, 30*time.Second, fmt.Sprintf("the leader key to name %s in epoch %d", node, epoch), func() (bool, error) {
		st, err := qc.ReadLeader(ctx)
		return err == nil && st.Present && st.Node == node && st.Epoch == epoch, nil
	})
}

// writable says whether a client can commit on n's database now.
func writable(ctx context.Context, n *harness.Node) error {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return n.Cluster.Exec(qctx, harness.DB, "INSERT INTO events (counter) VALUES (0)")
}

// SPEC §9 rule 3: the active's host is lost (its daemon and its database
// killed with SIGKILL); the standby sees the leader key expire, proves it
// was caught up, takes the key in epoch 2 and takes writes, its sequences
// past every id the old active handed out. The old active, back, finds the
// later epoch and never serves again by itself (rule 5).
func TestUnplannedFailoverWhenTheActiveIsLost(t *testing.T) {
	p, _, qc := quorumPair(t, "lost")
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitState(t, p, a, "ACTIVE")
	waitLeader(t, ctx, qc, a.Name, 1)
	must(t, counterLoad(ctx, t, a, 2, 200))
	waitRole(t, p, b, "STANDBY", true)
	must(t, p.WaitCaughtUp(ctx, a, b))
	oldMax, err := a.Cluster.QueryString(ctx, harness.DB, "SELECT max(id)::text FROM events")
	must(t, err)
	// Sequence values handed out on the old active but never committed
	// (rolled back) never reach the standby; only the published positions
	// carry them.
	must(t, a.Cluster.Exec(ctx, harness.DB, "SELECT nextval('events_id_seq') FROM generate_series(1, 50)"))
	pgtest.Eventually(t, 10*time.Second, "the active to publish its sequence positions", func() (bool, error) {
		seqs, err := qc.ReadSeq(ctx)
		return err == nil && seqs[`"public"."events_id_seq"`] > atoi(oldMax)+50, nil
	})

	lost := time.Now()
	must(t, a.Daemon.Kill9())
	must(t, a.Cluster.KillPostmaster())
	var took time.Duration
	pgtest.Eventually(t, 30*time.Second, b.Name+" to take writes", func() (bool, error) {
		if writable(ctx, b) != nil {
			return false, nil
		}
		took = time.Since(lost)
		return true, nil
	})
	t.Logf("loss of %s -> first write on %s: %s", a.Name, b.Name, took.Round(time.Millisecond))
	waitState(t, p, b, "ACTIVE")
	waitLeader(t, ctx, qc, b.Name, 2)
	st, err := p.Status(ctx, b)
	must(t, err)
	if st.Epoch != 2 {
		t.Errorf("%s is in epoch %d after the takeover, want 2", b.Name, st.Epoch)
	}
	newID, err := b.Cluster.QueryString(ctx, harness.DB, "INSERT INTO events (counter) VALUES (1) RETURNING id::text")
	must(t, err)
	if atoi(newID) <= atoi(oldMax)+50 {
		t.Errorf("the new active's next id %s is not past the %s the old active handed out", newID, fmt.Sprint(atoi(oldMax)+50))
	}

	// The old active comes back: it never serves again by itself. It was
	// caught up, so nothing was lost: it follows the new active (rule 5).
	// (Its PostgreSQL starts as it was left, writable, until the daemon
	// has fenced it: README, Limits.)
	must(t, a.Cluster.StartServer(ctx))
	must(t, p.StartDaemon(ctx, a))
	pgtest.Eventually(t, 30*time.Second, a.Name+" to follow in epoch 2", func() (bool, error) {
		st, err := p.Status(ctx, a)
		return err == nil && st.State == "STANDBY" && st.Epoch == 2 && st.Database.ClientMode == "read-only", err
	})
	if err := writable(ctx, a); err == nil {
		t.Fatalf("%s took a write after it came back behind a later epoch", a.Name)
	}
}

// SPEC §9 rule 2, failsafe: etcd stops answering both nodes while they
// still reach each other. The standby promises not to take over, and the
// active keeps taking writes through the outage (twice the lease); when
// etcd answers again the active binds the key to a new lease in its own
// epoch and nobody took over.
func TestFailsafeWhenTheQuorumIsLostToBoth(t *testing.T) {
	p, etcd, qc := quorumPair(t, "failsafe")
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitState(t, p, a, "ACTIVE")
	waitLeader(t, ctx, qc, a.Name, 1)
	waitRole(t, p, b, "STANDBY", true)

	must(t, etcd.Members[0].Signal(syscall.SIGSTOP))
	frozen := time.Now()
	writes, failed := 0, 0
	for time.Since(frozen) < 6*time.Second {
		if err := writable(ctx, a); err != nil {
			failed++
			t.Errorf("%s refused a write %s into the etcd outage: %v", a.Name, time.Since(frozen).Round(time.Millisecond), err)
			if failed > 3 {
				break
			}
		} else {
			writes++
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	t.Logf("%d writes on %s during 6 s without etcd", writes, a.Name)
	if st, err := p.Status(ctx, b); err != nil || st.State != "STANDBY" {
		t.Fatalf("%s during the outage: %s (%v), want STANDBY", b.Name, st.State, err)
	}
	must(t, etcd.Members[0].Signal(syscall.SIGCONT))
	waitLeader(t, ctx, qc, a.Name, 1)
	// Past the promise and a lease: still the same active, still serving.
	sleepCtx(ctx, 4*time.Second)
	waitLeader(t, ctx, qc, a.Name, 1)
	for _, n := range []*harness.Node{a, b} {
		st, err := p.Status(ctx, n)
		must(t, err)
		if want := map[bool]string{true: "ACTIVE", false: "STANDBY"}[n == a]; st.State != want || st.Epoch != 1 {
			t.Fatalf("%s after the outage: %s in epoch %d, want %s in 1", n.Name, st.State, st.Epoch, want)
		}
	}
	must(t, writable(ctx, a))
}

// SPEC §9 rule 2: etcd stops answering and the standby does not answer
// either (no promise to be had): the active fences itself within 2/3 of
// the lease (plus a tick). When both are back, exactly one node serves.
func TestActiveSelfFencesWithoutQuorumOrPromise(t *testing.T) {
	p, etcd, qc := quorumPair(t, "selffence")
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitState(t, p, a, "ACTIVE")
	waitLeader(t, ctx, qc, a.Name, 1)
	waitRole(t, p, b, "STANDBY", true)
	must(t, writable(ctx, a))

	must(t, b.Daemon.Signal(syscall.SIGSTOP))
	frozen := time.Now()
	must(t, etcd.Members[0].Signal(syscall.SIGSTOP))
	var took time.Duration
	pgtest.Eventually(t, 15*time.Second, a.Name+" to stop taking writes", func() (bool, error) {
		if writable(ctx, a) == nil {
			return false, nil
		}
		took = time.Since(frozen)
		return true, nil
	})
	t.Logf("etcd and the standby frozen -> %s refuses writes: %s", a.Name, took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("%s took writes for %s after etcd froze, past the 3 s lease", a.Name, took)
	}
	waitState(t, p, a, "SELF_FENCED")

	must(t, etcd.Members[0].Signal(syscall.SIGCONT))
	must(t, b.Daemon.Signal(syscall.SIGCONT))
	var winner, loser *harness.Node
	pgtest.Eventually(t, 20*time.Second, "one node to serve again", func() (bool, error) {
		for _, n := range p.Nodes {
			if st, err := p.Status(ctx, n); err == nil && st.State == "ACTIVE" && writable(ctx, n) == nil {
				winner, loser = n, p.Other(n)
				return true, nil
			}
		}
		return false, nil
	})
	epoch := int64(1)
	if winner == b {
		epoch = 2
	}
	t.Logf("after etcd came back %s serves in epoch %d", winner.Name, epoch)
	waitLeader(t, ctx, qc, winner.Name, epoch)
	if err := writable(ctx, loser); err == nil {
		t.Fatalf("both %s and %s take writes", winner.Name, loser.Name)
	}
}

// SPEC §9 rule 1: a planned switchover with a quorum moves the leader key
// to the new active (epoch 2) before it takes writes, and back (epoch 3);
// the old active never loses its lease to a takeover on the way, and the
// standby the pair ends with holds no lease.
func TestSwitchoverWithAQuorumMovesTheKey(t *testing.T) {
	p, _, qc := quorumPair(t, "planned")
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitState(t, p, a, "ACTIVE")
	waitLeader(t, ctx, qc, a.Name, 1)
	for i, to := range []*harness.Node{b, a} {
		from := p.Other(to)
		must(t, counterLoad(ctx, t, from, 2, 100))
		waitRole(t, p, to, "STANDBY", true)
		out, errOut, code, err := p.Run(ctx, from, "promote")
		must(t, err)
		if code != 0 {
			t.Fatalf("promote %s -> %s: exit %d\n%s%s", from.Name, to.Name, code, out, errOut)
		}
		waitState(t, p, to, "ACTIVE")
		waitState(t, p, from, "STANDBY")
		waitLeader(t, ctx, qc, to.Name, int64(i+2))
		must(t, writable(ctx, to))
		if err := writable(ctx, from); err == nil {
			t.Fatalf("the old active %s took a write after the switchover", from.Name)
		}
		// Past a lease: the key stays the new active's, nobody took over.
		sleepCtx(ctx, 4*time.Second)
		waitLeader(t, ctx, qc, to.Name, int64(i+2))
		if st, err := p.Status(ctx, from); err != nil || st.State != "STANDBY" || st.Epoch != uint64(i+2) {
			t.Fatalf("%s after the switchover: %s epoch %d (%v), want STANDBY in %d", from.Name, st.State, st.Epoch, err, i+2)
		}
	}
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "counters", "events"))
}

// SPEC §9 rule 4: with failover.unplanned off the standby does not take
// over when the active is lost; it stays STANDBY with the fault
// failover_refused naming the reason, and the leader key stays absent.
func TestFailoverRefusedNamesTheReason(t *testing.T) {
	p, _, qc := quorumPairWith(t, "refused", []string{"failover:", "  unplanned: false"})
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitLeader(t, ctx, qc, a.Name, 1)
	waitRole(t, p, b, "STANDBY", true)
	must(t, a.Daemon.Kill9())
	must(t, a.Cluster.KillPostmaster())
	waitFault(t, ctx, p, b, "failover_refused", "failover.unplanned is off")
	st, err := p.Status(ctx, b)
	must(t, err)
	if st.State != "STANDBY" || st.Epoch != 1 {
		t.Fatalf("%s: %s in epoch %d, want STANDBY in 1", b.Name, st.State, st.Epoch)
	}
	if err := writable(ctx, b); err == nil {
		t.Fatalf("%s took a write although failover.unplanned is off", b.Name)
	}
	if l, err := qc.ReadLeader(ctx); err != nil || l.Present {
		t.Fatalf("leader key after a refused takeover: %+v %v, want absent", l, err)
	}
}

// SPEC §9 rule 3: each takeover step is persisted before it is acted on;
// kill -9 of the standby's daemon right after it persisted CLAIMING or
// TAKING_OVER, then a restart, still ends with it ACTIVE in epoch 2,
// holding the leader key on its new process's lease.
func TestKill9DuringTheTakeover(t *testing.T) {
	for _, st := range []string{"CLAIMING", "TAKING_OVER"} {
		t.Run(st, func(t *testing.T) {
			p, _, qc := quorumPair(t, "kill-"+strings.ToLower(strings.ReplaceAll(st, "_", "-")))
			ctx := ctxFor(t, 2*time.Minute)
			a, b := p.Nodes[0], p.Nodes[1]
			must(t, p.Init(ctx))
			must(t, p.StartDaemon(ctx, a))
			must(t, p.StartDaemonEnv(ctx, b, []string{"PGSWITCHTEST_HOLD=" + st + "=30s"}))
			waitLeader(t, ctx, qc, a.Name, 1)
			waitRole(t, p, b, "STANDBY", true)
			must(t, counterLoad(ctx, t, a, 2, 100))
			must(t, p.WaitCaughtUp(ctx, a, b))

			must(t, a.Daemon.Kill9())
			must(t, a.Cluster.KillPostmaster())
			waitState(t, p, b, st)
			must(t, b.Daemon.Kill9())
			must(t, p.StartDaemon(ctx, b))
			waitState(t, p, b, "ACTIVE")
			waitLeader(t, ctx, qc, b.Name, 2)
			must(t, writable(ctx, b))
			// Past a lease of the killed process: still held.
			sleepCtx(ctx, 4*time.Second)
			waitLeader(t, ctx, qc, b.Name, 2)
			if st, err := p.Status(ctx, b); err != nil || st.State != "ACTIVE" || st.Epoch != 2 {
				t.Fatalf("%s: %s epoch %d (%v), want ACTIVE in 2", b.Name, st.State, st.Epoch, err)
			}
			must(t, writable(ctx, b))
		})
	}
}

// SPEC §9 rule 4: pgswitch failover --accept-data-loss on the standby. It
// is a usage error without the flag; it refuses (exit 1, nothing changed)
// while the active's daemon answers and while its lease holds the key; once
// the active is lost it takes over in the next epoch — with a quorum
// (failover.unplanned off, so that only the command does it) and without
// one, where it is the only way.
func TestForcedFailover(t *testing.T) {
	for _, withQuorum := range []bool{true, false} {
		t.Run(map[bool]string{true: "quorum", false: "no quorum"}[withQuorum], func(t *testing.T) {
			var qc *quorum.Client
			var lines []string
			if withQuorum {
				etcd := pgtest.StartEtcd(t, 1)
				lines = []string{"quorum:", "  endpoints: [" + etcd.Endpoints()[0] + "]", "  cluster: forced", "failover:", "  unplanned: false"}
				var err error
				qc, err = quorum.New(quorum.Settings{Endpoints: etcd.Endpoints(), Cluster: "forced", Prefix: "/pgswitch/", LeaseTTL: 3 * time.Second})
				must(t, err)
				defer qc.Close()
			}
			p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed, Config: func(int) []string { return lines }})
			ctx := ctxFor(t, 2*time.Minute)
			a, b := p.Nodes[0], p.Nodes[1]
			startBoth(t, ctx, p)
			waitState(t, p, a, "ACTIVE")
			waitRole(t, p, b, "STANDBY", true)
			if qc != nil {
				waitLeader(t, ctx, qc, a.Name, 1)
			}
			runCLI(t, p, cliCase{name: "without --accept-data-loss", node: 1, args: []string{"failover"}, wantCode: 2,
				wantOut: []string{"--accept-data-loss is required"}})
			runCLI(t, p, cliCase{name: "the active answers", node: 1, args: []string{"failover", "--accept-data-loss"}, wantCode: 1,
				wantOut: []string{"node-a's daemon answers"}})

			must(t, a.Daemon.Kill9())
			must(t, a.Cluster.KillPostmaster())
			var out string
			pgtest.Eventually(t, 30*time.Second, "pgswitch failover to take over", func() (bool, error) {
				o, e, code, err := p.Run(ctx, b, "failover", "--accept-data-loss", "--json")
				if err != nil {
					return false, err
				}
				switch code {
				case 0:
					out = o
					return true, nil
				case 1:
					// The lease still holds the key for up to its TTL.
					if !strings.Contains(o+e, "the leader key is held by node-a") {
						return false, fmt.Errorf("refused for another reason: %s%s", o, e)
					}
					return false, nil
				}
				return false, fmt.Errorf("exit %d: %s%s", code, o, e)
			})
			var res api.PromoteResult
			must(t, json.Unmarshal([]byte(out), &res))
			if res.Outcome != api.PromoteDone || res.Epoch != 2 || res.To != b.Name {
				t.Fatalf("failover --json: %+v, want done, epoch 2, to %s", res, b.Name)
			}
			waitState(t, p, b, "ACTIVE")
			must(t, writable(ctx, b))
			if qc != nil {
				waitLeader(t, ctx, qc, b.Name, 2)
			}
		})
	}
}

// SPEC §9 rules 3 and 6, synchronous mode: the active names its standby in
// the sync key once commits wait for it; when the active is lost under a
// write load, the standby takes over on that proof and holds every commit
// the old active acknowledged. A standby the key does not name (it was
// gone long enough for the active to degrade, which removes the name
// first) refuses.
func TestSynchronousFailoverLosesNothing(t *testing.T) {
	p, _, qc := quorumPairWith(t, "syncfail", nil, syncEnvironment...)
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitLeader(t, ctx, qc, a.Name, 1)
	waitSyncNames(t, ctx, a, `"pgswitch_node_b"`)
	waitSyncKey := func(epoch int64, names ...string) {
		t.Helper()
		pgtest.Eventually(t, 30*time.Second, fmt.Sprintf("the sync key to name %v in epoch %d", names, epoch), func() (bool, error) {
			k, err := qc.ReadSyncKey(ctx)
			return err == nil && k.Epoch == epoch && fmt.Sprint(k.Standbys) == fmt.Sprint(names), nil
		})
	}
	waitSyncKey(1, b.Name)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := harness.StartWriters(wctx, harness.WriterOptions{Clients: 4, Via: "a",
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return a.Cluster.Conn(ctx, harness.DB) },
		Insert:  "INSERT INTO events (counter) VALUES (1) RETURNING id"})
	pgtest.Eventually(t, 30*time.Second, "writes on "+a.Name, func() (bool, error) { return len(w.Acks()) > 200, nil })
	must(t, a.Daemon.Kill9())
	must(t, a.Cluster.KillPostmaster())
	cancel()
	acks, _ := w.Wait()
	waitState(t, p, b, "ACTIVE")
	waitLeader(t, ctx, qc, b.Name, 2)
	have, err := harness.IDs(ctx, b, "SELECT id FROM events")
	must(t, err)
	if n := harness.Missing(acks, have); n > 0 {
		t.Fatalf("%d of %d commits acknowledged by %s are missing on %s after the takeover", n, len(acks), a.Name, b.Name)
	}
	t.Logf("all %d commits acknowledged by %s are on %s", len(acks), a.Name, b.Name)

	// The new active has no standby: it degrades, and the sync key of
	// epoch 1, which named it, is gone before its commits stop waiting.
	pgtest.Eventually(t, 30*time.Second, "the sync key without a standby", func() (bool, error) {
		k, err := qc.ReadSyncKey(ctx)
		return err == nil && len(k.Standbys) == 0, nil
	})
	must(t, writable(ctx, b))
}

// SPEC §9 rule 4, synchronous mode: the standby is gone long enough for
// the active to degrade, which removes its name from the sync key before
// commits stop waiting; when the active is then lost, the standby —
// started again — refuses to take over: it cannot prove it holds what the
// active acknowledged alone.
func TestSynchronousFailoverRefusedAfterDegrading(t *testing.T) {
	p, _, qc := quorumPairWith(t, "syncrefused", nil, syncEnvironment...)
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitLeader(t, ctx, qc, a.Name, 1)
	pgtest.Eventually(t, 30*time.Second, "the sync key to name "+b.Name, func() (bool, error) {
		k, err := qc.ReadSyncKey(ctx)
		return err == nil && k.Epoch == 1 && len(k.Standbys) == 1 && k.Standbys[0] == b.Name, nil
	})
	must(t, b.Daemon.Kill9())
	waitSyncNames(t, ctx, a, "")
	if k, err := qc.ReadSyncKey(ctx); err != nil || len(k.Standbys) != 0 {
		t.Fatalf("commits stopped waiting for %s while the quorum still names it: %+v %v", b.Name, k, err)
	}
	must(t, writable(ctx, a)) // acknowledged by the active alone
	must(t, a.Daemon.Kill9())
	must(t, a.Cluster.KillPostmaster())
	must(t, p.StartDaemon(ctx, b))
	waitFault(t, ctx, p, b, "failover_refused", "the sync key does not name node-b")
	if st, err := p.Status(ctx, b); err != nil || st.State != "STANDBY" {
		t.Fatalf("%s: %s (%v), want STANDBY", b.Name, st.State, err)
	}
	if err := writable(ctx, b); err == nil {
		t.Fatalf("%s took a write without the proof", b.Name)
	}
}

// SPEC §9 rule 5: the old active comes back behind a later epoch. When
// the new active applied every transaction it committed, it follows it as
// STANDBY from the reverse slot without a re-copy, and data written on
// the new active reaches it.
func TestOldActiveFollowsWhenNothingWasLost(t *testing.T) {
	p, _, qc := quorumPair(t, "nothinglost")
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitLeader(t, ctx, qc, a.Name, 1)
	must(t, counterLoad(ctx, t, a, 2, 200))
	waitRole(t, p, b, "STANDBY", true)
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, a.Daemon.Kill9())
	must(t, a.Cluster.KillPostmaster())
	waitState(t, p, b, "ACTIVE")
	must(t, counterLoad(ctx, t, b, 2, 200))

	must(t, a.Cluster.StartServer(ctx))
	must(t, p.StartDaemon(ctx, a))
	waitState(t, p, a, "STANDBY")
	st, err := p.Status(ctx, a)
	must(t, err)
	if st.Epoch != 2 || st.Divergence != nil {
		t.Fatalf("%s back: epoch %d, divergence %+v; want epoch 2 and none", a.Name, st.Epoch, st.Divergence)
	}
	waitRole(t, p, a, "STANDBY", true)
	must(t, counterLoad(ctx, t, b, 2, 100))
	must(t, p.WaitCaughtUp(ctx, b, a))
	must(t, p.SameData(ctx, "counters", "events"))
	if err := writable(ctx, a); err == nil {
		t.Fatalf("%s, now the standby, took a client write", a.Name)
	}
}

// pairWithLostTransactions makes an old active with lost transactions: the
// standby's daemon is killed, the active commits each of lost, the active's
// daemon and postmaster are killed, the standby takes over with pgswitch
// failover --accept-data-loss, and the old active comes back.
func pairWithLostTransactions(t *testing.T, cluster string, lost []string) (context.Context, *harness.Pair, *harness.Node, *harness.Node) {
	t.Helper()
	p, _, qc := quorumPair(t, cluster)
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitLeader(t, ctx, qc, a.Name, 1)
	waitRole(t, p, b, "STANDBY", true)
	must(t, counterLoad(ctx, t, a, 2, 100))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, b.Daemon.Kill9())
	for _, q := range lost {
		must(t, a.Cluster.Exec(ctx, harness.DB, q))
	}
	must(t, a.Daemon.Kill9())
	must(t, a.Cluster.KillPostmaster())
	must(t, p.StartDaemon(ctx, b))
	pgtest.Eventually(t, 30*time.Second, "pgswitch failover on "+b.Name, func() (bool, error) {
		_, _, code, err := p.Run(ctx, b, "failover", "--accept-data-loss")
		return err == nil && code == 0, err
	})
	waitState(t, p, b, "ACTIVE")
	must(t, a.Cluster.StartServer(ctx))
	must(t, p.StartDaemon(ctx, a))
	return ctx, p, a, b
}

// SPEC §9 rule 5: transactions the old active committed that the new
// active never applied (here: written while the standby's daemon was down,
// then a forced failover) are found exactly — each in the report with its
// xid, commit position and rows — shown in status and the metric, and the
// old active stays fenced.
func TestOldActiveReportsLostTransactions(t *testing.T) {
	const lost = 7
	lostSQL := []string{}
	for i := range lost {
		lostSQL = append(lostSQL, fmt.Sprintf("INSERT INTO events (counter) VALUES (%d)", 1000+i))
	}
	lostSQL = append(lostSQL, "UPDATE counters SET n = n + 5 WHERE id = 3", "DELETE FROM counters WHERE id = 20", "TRUNCATE events")
	const txns = lost + 3
	ctx, p, a, _ := pairWithLostTransactions(t, "lostreport", lostSQL)
	var st api.Status
	pgtest.Eventually(t, 30*time.Second, a.Name+" to report its lost transactions", func() (bool, error) {
		var err error
		st, err = p.Status(ctx, a)
		return err == nil && st.Divergence != nil, nil
	})
	if st.State != "SELF_FENCED" || st.Divergence.Transactions != txns || st.Divergence.Epoch != 2 {
		t.Fatalf("%s: %s, divergence %+v; want SELF_FENCED with %d transactions of epoch 2", a.Name, st.State, st.Divergence, txns)
	}
	data, err := os.ReadFile(st.Divergence.Report)
	must(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != txns {
		t.Fatalf("the report has %d lines, want %d:\n%s", len(lines), txns, data)
	}
	for i, line := range lines {
		var tx replication.LostTxn
		must(t, json.Unmarshal([]byte(line), &tx))
		if tx.Xid == 0 || tx.CommitLSN == "" || tx.CommitTime.IsZero() || len(tx.Changes) != 1 {
			t.Fatalf("report line %d is incomplete: %s", i+1, line)
		}
		c := tx.Changes[0]
		switch {
		case i < lost:
			if c.Op != "INSERT" || c.Table != "public.events" || c.New["counter"] == nil || *c.New["counter"] != fmt.Sprint(1000+i) {
				t.Errorf("report line %d: %+v, want the INSERT of counter %d into public.events", i+1, c, 1000+i)
			}
		case i == lost:
			// The key did not change: PostgreSQL sends no old row, the
			// new one names the row.
			if c.Op != "UPDATE" || c.Table != "public.counters" || c.New["id"] == nil || *c.New["id"] != "3" || c.Old != nil {
				t.Errorf("report line %d: %+v, want the UPDATE of counters 3 (no old row)", i+1, c)
			}
		case i == lost+1:
			if c.Op != "DELETE" || c.Table != "public.counters" || c.Old["id"] == nil || *c.Old["id"] != "20" || len(c.Old) != 1 || c.New != nil {
				t.Errorf("report line %d: %+v, want the DELETE of counters 20 by its key", i+1, c)
			}
		default:
			if c.Op != "TRUNCATE" || c.Table != "public.events" {
				t.Errorf("report line %d: %+v, want the TRUNCATE of public.events", i+1, c)
			}
		}
	}
	if err := writable(ctx, a); err == nil {
		t.Fatalf("%s took a write with lost transactions", a.Name)
	}
	out, errOut, _, err := p.Run(ctx, a, "status")
	must(t, err)
	if !strings.Contains(out+errOut, fmt.Sprintf("%d transactions the new active (epoch 2) never applied", txns)) {
		t.Errorf("pgswitch status does not show the divergence:\n%s%s", out, errOut)
	}
	runCLI(t, p, cliCase{name: "check with lost transactions", node: 0, args: []string{"check"}, wantCode: 1,
		wantOut: []string{fmt.Sprintf("committed %d transactions the new active (epoch 2) never applied", txns)}})
	if _, m := httpGet(t, a.APIURL()+"/metrics", ""); !strings.Contains(m, fmt.Sprintf("pgswitch_lost_transactions{node=%q} %d", a.Name, txns)) {
		t.Errorf("metrics lack pgswitch_lost_transactions %d", txns)
	}
}

// SPEC §9 rule 5: pgswitch rejoin re-copies from the new active exactly the
// tables the lost transactions touched (here events, not counters) and
// makes the old active its standby, following the reverse slot: the new
// active's writes to both tables from before the re-copy (skipped for
// events, whose copy holds them) and after it arrive once, and the two
// nodes end identical. It refuses before there is a report, and after.
func TestRejoinRecopiesTheTouchedTables(t *testing.T) {
	lostSQL := []string{"INSERT INTO events (counter) VALUES (2000)", "INSERT INTO events (counter) VALUES (2001)"}
	ctx, p, a, b := pairWithLostTransactions(t, "rejoin", lostSQL)
	runCLI(t, p, cliCase{name: "rejoin on the active", node: 1, args: []string{"rejoin"}, wantCode: 1,
		wantOut: []string{"without a lost-transaction report"}})
	pgtest.Eventually(t, 30*time.Second, a.Name+" to report its lost transactions", func() (bool, error) {
		st, err := p.Status(ctx, a)
		return err == nil && st.Divergence != nil && st.Divergence.Transactions == len(lostSQL), nil
	})
	// The new active writes to both tables: changes the reverse slot
	// holds from before the re-copy's snapshot.
	must(t, counterLoad(ctx, t, b, 2, 200))

	out, errOut, code, err := p.Run(ctx, a, "rejoin", "--json")
	must(t, err)
	if code != 0 {
		t.Fatalf("rejoin: exit %d\n%s%s", code, out, errOut)
	}
	var res api.PromoteResult
	must(t, json.Unmarshal([]byte(out), &res))
	if res.Outcome != api.PromoteDone || res.Epoch != 2 || !strings.Contains(res.Reason, "re-copied 1 tables") || !strings.Contains(res.Reason, "public.events") {
		t.Fatalf("rejoin --json: %+v, want done in epoch 2 re-copying public.events only", res)
	}
	waitRole(t, p, a, "STANDBY", true)
	must(t, counterLoad(ctx, t, b, 2, 200))
	must(t, p.WaitCaughtUp(ctx, b, a))
	must(t, p.SameData(ctx, "counters", "events"))
	st, err := p.Status(ctx, a)
	must(t, err)
	if st.Divergence != nil || len(st.Faults) > 0 {
		t.Fatalf("%s after rejoin: divergence %+v, faults %+v", a.Name, st.Divergence, st.Faults)
	}
	runCLI(t, p, cliCase{name: "rejoin again", node: 0, args: []string{"rejoin"}, wantCode: 1,
		wantOut: []string{"nothing to rejoin"}})
}

// SPEC §9 rule 3: the old active's daemon dies but its PostgreSQL keeps
// taking writes. The standby's takeover fences that database through
// postgres.peer_dsn before it becomes writable itself: never two writers —
// every write the old database acknowledged ended before the new active's
// first began.
func TestTakeoverFencesTheOldDatabase(t *testing.T) {
	p, _, qc := quorumPair(t, "deaddaemon")
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitLeader(t, ctx, qc, a.Name, 1)
	waitRole(t, p, b, "STANDBY", true)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Paced, so that the standby keeps within failover.max_lag_bytes of a
	// database that goes on writing (faster, it rightly refuses: it cannot
	// prove it holds what that database acknowledges).
	writer := func(n *harness.Node) *harness.Writers {
		return harness.StartWriters(wctx, harness.WriterOptions{Clients: 2, Via: n.Name, Rate: 500,
			Connect:        func(ctx context.Context) (*pgx.Conn, error) { return n.Cluster.Conn(ctx, harness.DB) },
			Insert:         "INSERT INTO events (counter) VALUES (1) RETURNING id",
			ConnectTimeout: 300 * time.Millisecond})
	}
	onA, onB := writer(a), writer(b)
	pgtest.Eventually(t, 30*time.Second, "writes on "+a.Name, func() (bool, error) { return len(onA.Acks()) > 100, nil })
	must(t, a.Daemon.Kill9())
	waitState(t, p, b, "ACTIVE")
	pgtest.Eventually(t, 30*time.Second, "writes on "+b.Name, func() (bool, error) { return len(onB.Acks()) > 100, nil })
	cancel()
	acksA, _ := onA.Wait()
	acksB, _ := onB.Wait()
	var lastA, firstB time.Time
	for _, k := range acksA {
		if k.End.After(lastA) {
			lastA = k.End
		}
	}
	for _, k := range acksB {
		if firstB.IsZero() || k.Start.Before(firstB) {
			firstB = k.Start
		}
	}
	t.Logf("%s's database acknowledged its last write %s before %s's first began (%d and %d writes)",
		a.Name, firstB.Sub(lastA).Round(time.Millisecond), b.Name, len(acksA), len(acksB))
	if !lastA.Before(firstB) {
		t.Fatalf("two writers: %s's database acknowledged a write until %s, %s took one from %s",
			a.Name, lastA.Format(time.StampMicro), b.Name, firstB.Format(time.StampMicro))
	}
	mode, err := a.Cluster.QueryString(ctx, harness.DB, "SELECT pgswitch.client_mode()")
	must(t, err)
	if mode != "fenced" {
		t.Fatalf("the old database's client mode is %q, want fenced", mode)
	}
}

// SPEC §9 rules 3 and 4, asynchronous mode: a standby further behind than
// failover.max_lag_bytes when it last heard the active does not take over
// (here the active's daemon dies while its database keeps committing, so
// the standby is always some bytes behind a limit of one byte); it stays
// STANDBY with failover_refused naming the lag.
func TestFailoverRefusedWhenTheStandbyLags(t *testing.T) {
	p, _, qc := quorumPairWith(t, "lagging", []string{"failover:", "  max_lag_bytes: 1"}, "PGSWITCH_SUPERVISION_INTERVAL=200ms")
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitLeader(t, ctx, qc, a.Name, 1)
	waitRole(t, p, b, "STANDBY", true)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := harness.StartWriters(wctx, harness.WriterOptions{Clients: 2, Via: a.Name,
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return a.Cluster.Conn(ctx, harness.DB) },
		Insert:  "INSERT INTO events (counter) VALUES (1) RETURNING id"})
	pgtest.Eventually(t, 30*time.Second, "writes on "+a.Name, func() (bool, error) { return len(w.Acks()) > 100, nil })
	must(t, a.Daemon.Kill9())
	waitFault(t, ctx, p, b, "failover_refused", "more than failover.max_lag_bytes=1")
	if st, err := p.Status(ctx, b); err != nil || st.State != "STANDBY" || st.Epoch != 1 {
		t.Fatalf("%s: %s in epoch %d (%v), want STANDBY in 1", b.Name, st.State, st.Epoch, err)
	}
	if err := writable(ctx, b); err == nil {
		t.Fatalf("%s took a write although it lagged", b.Name)
	}
	cancel()
	w.Wait()
}
