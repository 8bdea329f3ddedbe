package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// kill -9 of either daemon right after it persisted each step of the
// handshake, then a restart: the pair ends in a safe state by the failure
// rules (one ACTIVE with the VIP, the other STANDBY), never two writers,
// nothing acknowledged lost.
func TestKill9AtEachStep(t *testing.T) {
	np := newNetPair(t, harness.Options{Env: []string{"PGSWITCH_SWITCHOVER_STEP_TIMEOUT=3s", "PGSWITCH_SERVICE_TIMEOUT=2s"}})
	ctx := ctxFor(t, 6*time.Minute)
	np.start(ctx, t)

	ld := np.startLoad(ctx, t)

	cases := []struct {
		state  string
		victim string // "active" or "standby": whose daemon holds and dies
		// the active after the dust settles: "old" or "new"
		want string
	}{
		{"REQUESTING_SWITCH", "active", "old"},
		{"SWITCHING_OUT", "active", "old"},
		{"AGREE_SWITCH", "standby", "old"},
		{"SWITCHING_IN", "standby", "new"},
	}
	for _, c := range cases {
		t.Run(c.state, func(t *testing.T) {
			active, standby := np.settled(ctx, t)
			victim := active
			if c.victim == "standby" {
				victim = standby
			}
			must(t, victim.Daemon.Kill9())
			must(t, np.StartDaemonEnv(ctx, victim, []string{"PGSWITCHTEST_HOLD=" + c.state + "=30s"}))
			np.settled(ctx, t)

			res := np.promoteAsync(ctx, t, active)
			pgtest.Eventually(t, 30*time.Second, victim.Name+" to persist "+c.state, func() (bool, error) {
				st, err := np.Status(ctx, victim)
				return err == nil && st.State == c.state, err
			})
			must(t, victim.Daemon.Kill9())
			must(t, np.StartDaemon(ctx, victim))
			r := <-res
			t.Logf("promote (killed %s in %s): exit %d\n%s", victim.Name, c.state, r.code, r.out)
			if r.code == 0 && c.want == "old" {
				t.Errorf("promote reported success although %s died in %s", victim.Name, c.state)
			}
			now, _ := np.settled(ctx, t)
			want := active
			if c.want == "new" {
				want = standby
			}
			if now != want {
				t.Fatalf("after killing %s in %s, %s is active; want %s", victim.Name, c.state, now.Name, want.Name)
			}
		})
	}
	sleepCtx(ctx, 300*time.Millisecond)
	res := ld.finish(ctx, t)
	acks, directAcks := res.vip, res.direct
	t.Logf("%d writes through the VIP and %d direct writes acknowledged, all present", len(acks), len(directAcks))
}

// assertNoDualWriters checks that direct writes to the two nodes were never
// accepted in overlapping periods.
func assertNoDualWriters(t *testing.T, acks []ack) {
	t.Helper()
	sortAcks(acks)
	for i := 1; i < len(acks); i++ {
		prev, cur := acks[i-1], acks[i]
		if prev.Via != cur.Via && cur.Start.Before(prev.End) {
			t.Errorf("both nodes accepted writes in the same period: %s write %d and %s write %d overlap", prev.Via, prev.ID, cur.Via, cur.ID)
		}
	}
	// Sequences: each node's run of writes hands out ids above the
	// previous run's.
	var lastMax int64 = -1
	var runMax int64 = -1
	for i, a := range acks {
		if i > 0 && a.Via != acks[i-1].Via {
			lastMax, runMax = runMax, -1
		}
		if a.ID <= lastMax {
			t.Errorf("%s handed out id %d, not above %d from the previous active", a.Via, a.ID, lastMax)
			return
		}
		runMax = max(runMax, a.ID)
	}
	_ = fmt.Sprint
}
