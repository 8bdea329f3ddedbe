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

type promoteResult struct {
	code int
	out  string
}

// promoteAsync runs pgswitch promote on n in the background.
func (np *netPair) promoteAsync(ctx context.Context, t *testing.T, n *harness.Node, args ...string) <-chan promoteResult {
	ch := make(chan promoteResult, 1)
	go func() {
		out, errOut, code, err := np.Run(ctx, n, append([]string{"promote"}, args...)...)
		if err != nil {
			out += "\n" + err.Error()
		}
		ch <- promoteResult{code: code, out: out + errOut}
	}()
	return ch
}

func (np *netPair) start(ctx context.Context, t *testing.T) (*harness.Node, *harness.Node) {
	t.Helper()
	a, b := np.Nodes[0], np.Nodes[1]
	startBoth(t, ctx, np.Pair)
	waitRole(t, np.Pair, a, "ACTIVE", true)
	waitRole(t, np.Pair, b, "STANDBY", true)
	return a, b
}

// settled waits until one node is ACTIVE, writable and holding the VIP and
// the other is STANDBY and streaming; it returns them.
func (np *netPair) settled(ctx context.Context, t *testing.T) (*harness.Node, *harness.Node) {
	t.Helper()
	var active, standby *harness.Node
	pgtest.Eventually(t, 60*time.Second, "the pair to settle (one ACTIVE with the VIP, one STANDBY streaming)", func() (bool, error) {
		active, standby = nil, nil
		for _, n := range np.Nodes {
			st, err := np.Status(ctx, n)
			if err != nil {
				return false, err
			}
			if len(st.Faults) > 0 {
				return false, fmt.Errorf("%s has faults %+v", n.Name, st.Faults)
			}
			switch st.State {
			case "ACTIVE":
				if st.VIP == nil || !st.VIP.Held || st.Database.ClientMode != "writable" {
					return false, fmt.Errorf("%s ACTIVE but vip=%v mode=%s", n.Name, st.VIP, st.Database.ClientMode)
				}
				active = n
			case "STANDBY":
				if st.Replication == nil || !st.Replication.Streaming {
					return false, fmt.Errorf("%s STANDBY but not streaming", n.Name)
				}
				standby = n
			default:
				return false, fmt.Errorf("%s is %s", n.Name, st.State)
			}
		}
		return active != nil && standby != nil, nil
	})
	return active, standby
}

// writable reports whether n's database accepts a write from the
// application role, from the client namespace.
func (np *netPair) writable(ctx context.Context, n *harness.Node) bool {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := np.clientConn(cctx, n.Addr)
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(cctx, "INSERT INTO writes (id, via) VALUES (nextval('tickets'), 'probe')")
	return err == nil
}

// A standby that lags (a write burst just before promote) delays its
// agreement, staying STANDBY, and then agrees. With a catchup_timeout too
// short for it, the switchover aborts with exit 1 and the active keeps
// serving.
func TestLaggingStandbyDelaysThenAgrees(t *testing.T) {
	np := newNetPair(t, harness.Options{
		Schema: netSchema + `CREATE TABLE burst (id int PRIMARY KEY, pad text);`,
		Env:    []string{"PGSWITCH_SWITCHOVER_MAX_LAG_BYTES=1073741824"},
	})
	ctx := ctxFor(t, 4*time.Minute)
	a, b := np.start(ctx, t)
	burst := func(from int) {
		must(t, a.Cluster.Exec(ctx, harness.DB, fmt.Sprintf(
			"INSERT INTO burst SELECT i, repeat('x', 200) FROM generate_series(%d, %d) i", from, from+199999)))
	}

	// Too short: the standby cannot replay the burst in 200 ms.
	short := []string{"PGSWITCH_SWITCHOVER_CATCHUP_TIMEOUT=200ms"}
	must(t, a.Daemon.Kill9())
	must(t, b.Daemon.Kill9())
	must(t, np.StartDaemonEnv(ctx, a, short))
	must(t, np.StartDaemonEnv(ctx, b, short))
	np.settled(ctx, t)
	burst(1)
	code, out := np.promote(ctx, t, a)
	t.Logf("promote with catchup_timeout 200ms:\n%s", out)
	if code != 1 || !strings.Contains(out, "catchup_timeout") {
		t.Fatalf("promote exit %d, want 1 naming catchup_timeout", code)
	}
	if active, _ := np.settled(ctx, t); active != a {
		t.Fatalf("after the aborted switchover %s is active, want %s", active.Name, a.Name)
	}
	if !np.writable(ctx, a) {
		t.Fatalf("the active does not take writes after the aborted switchover")
	}

	// Long enough: the standby stays STANDBY while it catches up, then agrees.
	long := []string{"PGSWITCH_SWITCHOVER_CATCHUP_TIMEOUT=60s"}
	must(t, a.Daemon.Kill9())
	must(t, b.Daemon.Kill9())
	must(t, np.StartDaemonEnv(ctx, a, long))
	must(t, np.StartDaemonEnv(ctx, b, long))
	np.settled(ctx, t)
	burst(200001)
	lagBefore, err := np.Replayed(ctx, b)
	must(t, err)
	end, err := np.WALPosition(ctx, a)
	must(t, err)
	code, out = np.promote(ctx, t, a)
	t.Logf("promote right after a burst (standby at %s, primary at %s):\n%s", lagBefore, end, out)
	if code != 0 {
		t.Fatalf("promote exit %d, want 0", code)
	}
	active, _ := np.settled(ctx, t)
	if active != b {
		t.Fatalf("%s is active, want %s", active.Name, b.Name)
	}
	must(t, np.SameData(ctx, "burst", "writes"))
}

// A standby whose database is down refuses: exit 1, nothing changed, the
// active still takes writes through the VIP.
func TestFaultyStandbyRefuses(t *testing.T) {
	np := newNetPair(t, harness.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := np.start(ctx, t)
	must(t, b.Cluster.Stop(ctx, "fast"))
	code, out := np.promote(ctx, t, a)
	t.Logf("promote with the standby's database down:\n%s", out)
	if code != 1 || !strings.Contains(out, "node-b") {
		t.Fatalf("promote exit %d, want 1 naming node-b", code)
	}
	st, err := np.Status(ctx, a)
	must(t, err)
	if st.State != "ACTIVE" || st.Epoch != 1 || st.VIP == nil || !st.VIP.Held {
		t.Fatalf("after the refusal node-a is %s epoch %d vip %+v", st.State, st.Epoch, st.VIP)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := np.clientConn(cctx, np.vip)
	must(t, err)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(cctx, "INSERT INTO writes (id, via) VALUES (nextval('tickets'), 'after refusal')"); err != nil {
		t.Fatalf("the active refuses writes through the VIP after a refused switchover: %v", err)
	}
	must(t, b.Cluster.StartServer(ctx))
	np.settled(ctx, t)
}

// The peer unreachable after SWITCHING_OUT: the old active goes FENCED and
// promote exits 3; once the network heals it learns that the peer did not
// promote and serves again.
func TestPeerUnreachableAfterSwitchOutFences(t *testing.T) {
	np := newNetPair(t, harness.Options{Env: []string{"PGSWITCH_SWITCHOVER_STEP_TIMEOUT=2s", "PGSWITCH_SERVICE_TIMEOUT=1s"}})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := np.start(ctx, t)
	must(t, a.Daemon.Kill9())
	must(t, np.StartDaemonEnv(ctx, a, []string{"PGSWITCHTEST_HOLD=SWITCHING_OUT=3s"}))
	np.settled(ctx, t)

	res := np.promoteAsync(ctx, t, a)
	pgtest.Eventually(t, 20*time.Second, "node-a to enter SWITCHING_OUT", func() (bool, error) {
		st, err := np.Status(ctx, a)
		return err == nil && st.State == "SWITCHING_OUT", err
	})
	must(t, np.net.Cut("b"))
	r := <-res
	t.Logf("promote with the peer cut off after SWITCHING_OUT:\n%s", r.out)
	if r.code != 3 || !strings.Contains(r.out, "FENCED") {
		t.Fatalf("promote exit %d, want 3 naming FENCED", r.code)
	}
	st, err := np.Status(ctx, a)
	must(t, err)
	if st.State != "FENCED" || (st.VIP != nil && st.VIP.Held) || st.Database.ClientMode != "fenced" {
		t.Fatalf("node-a after the cut: %s, vip %+v, database %s; want FENCED, no VIP, fenced", st.State, st.VIP, st.Database.ClientMode)
	}
	if np.writable(ctx, a) {
		t.Fatalf("the FENCED node took a write")
	}
	code := probe(t, np.Pair, a, "/primary")
	if code != 503 {
		t.Fatalf("/primary on the FENCED node: %d, want 503", code)
	}
	must(t, np.net.Heal("b"))
	active, _ := np.settled(ctx, t)
	if active != a {
		t.Fatalf("after healing %s is active; node-b never promoted, so node-a should serve again", active.Name)
	}
	_ = b
}
