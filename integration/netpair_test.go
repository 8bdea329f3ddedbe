package integration

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vishvananda/netlink"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// netSchema: an application role (not a superuser, as an application
// should be) and the table the writers fill.
const netSchema = `
DO $$ BEGIN CREATE ROLE app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE writes (id bigint PRIMARY KEY, via text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE SEQUENCE tickets;
GRANT SELECT, INSERT ON writes TO app;
GRANT USAGE ON SEQUENCE tickets TO app;
`

// netPair is a pair in network namespaces: hosts "a" and "b" each run a
// database and a daemon, "client" runs the applications. The VIP is
// managed on eth0 of the active host.
type netPair struct {
	*harness.Pair
	net  *pgtest.NetTopology
	vip  string // address without prefix
	port int    // PostgreSQL's port, the same on both hosts
}

func newNetPair(t *testing.T, opts harness.Options) *netPair {
	t.Helper()
	return newNetPairWith(t, opts, nil)
}

// newNetPairWith is newNetPair with more hosts on the lan (an etcd host)
// and a setup that runs once the topology exists, before the pair is
// configured (it may start a server there and add to opts.Config).
func newNetPairWith(t *testing.T, opts harness.Options, setup func(*pgtest.NetTopology), more ...string) *netPair {
	t.Helper()
	pgtest.Need(t)
	top := pgtest.NewNetTopology(t, append([]string{"a", "b", "client"}, more...)...)
	if setup != nil {
		setup(top)
	}
	port, err := pgtest.FreePort()
	must(t, err)
	vip := top.FreeAddr(0)
	opts.NetNS = [2]string{top.Hosts["a"].NS, top.Hosts["b"].NS}
	opts.Addrs = [2]string{top.Hosts["a"].Addr, top.Hosts["b"].Addr}
	opts.Port = port
	if opts.Settings == nil {
		opts.Settings = map[string]string{}
	}
	opts.Settings["listen_addresses"] = "*"
	if opts.Schema == "" {
		opts.Schema = netSchema
	}
	extra := opts.Config
	opts.Config = func(i int) []string {
		lines := []string{
			"vip:",
			fmt.Sprintf("  address: %s/%d", vip, top.PrefixLen()),
			"  interface: eth0",
			"  garp_count: 3",
			"  garp_interval: 50ms",
			"switchover:",
			"  step_timeout: 5s",
			"  catchup_timeout: 10s",
		}
		if extra != nil {
			lines = append(lines, extra(i)...)
		}
		return lines
	}
	return &netPair{Pair: newPair(t, opts), net: top, vip: vip, port: port}
}

// clientConn connects as the application from the client namespace.
func (np *netPair) clientConn(ctx context.Context, host string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=app dbname=app connect_timeout=2 sslmode=disable", host, np.port))
	if err != nil {
		return nil, err
	}
	cfg.DialFunc = pgtest.NSDialer(np.net.Hosts["client"].NS)
	cfg.LookupFunc = func(_ context.Context, h string) ([]string, error) { return []string{h}, nil }
	return pgx.ConnectConfig(ctx, cfg)
}

// ack is one acknowledged write.
type ack = harness.Ack

// writer is one client inserting through one address as fast as it can.
type writer struct{ w *harness.Writers }

func (np *netPair) startWriter(ctx context.Context, t *testing.T, name, host string) *writer {
	return &writer{w: harness.StartWriters(ctx, harness.WriterOptions{
		Via:            name,
		Connect:        func(ctx context.Context) (*pgx.Conn, error) { return np.clientConn(ctx, host) },
		Insert:         "INSERT INTO writes (id, via) VALUES (nextval('tickets'), $1) RETURNING id",
		Args:           func(int) []any { return []any{name} },
		ConnectTimeout: 300 * time.Millisecond,
	})}
}

func (w *writer) stop() []ack {
	acks, _ := w.w.Wait()
	return acks
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func longestPause(acks []ack) (time.Duration, time.Time) { return harness.LongestPause(acks) }

// vipWatch samples both hosts for the VIP every few milliseconds and
// records any moment both held it.
type vipWatch struct {
	np     *netPair
	mu     sync.Mutex
	both   []time.Time
	holder map[string]int // samples per holder
	wg     sync.WaitGroup
}

func (np *netPair) watchVIP(ctx context.Context) *vipWatch {
	v := &vipWatch{np: np, holder: map[string]int{}}
	ip := net.ParseIP(np.vip)
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		for ctx.Err() == nil {
			var holders []string
			for _, h := range []string{"a", "b"} {
				held := false
				_ = pgtest.InNS(np.net.Hosts[h].NS, func() error {
					link, err := netlink.LinkByName("eth0")
					if err != nil {
						return err
					}
					addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
					for _, a := range addrs {
						if a.IP.Equal(ip) {
							held = true
						}
					}
					return err
				})
				if held {
					holders = append(holders, h)
				}
			}
			v.mu.Lock()
			if len(holders) == 2 {
				v.both = append(v.both, time.Now())
			}
			v.holder[strings.Join(holders, "+")]++
			v.mu.Unlock()
			sleepCtx(ctx, 5*time.Millisecond)
		}
	}()
	return v
}

func (v *vipWatch) stop() ([]time.Time, map[string]int) {
	v.wg.Wait()
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.both, v.holder
}

// idsOn returns the ids of the writes table on n.
func idsOn(ctx context.Context, t *testing.T, n *harness.Node) map[int64]bool {
	ids, err := harness.IDs(ctx, n, "SELECT id FROM writes")
	must(t, err)
	return ids
}

// promote runs pgswitch promote on n and returns its exit code and output.
func (np *netPair) promote(ctx context.Context, t *testing.T, n *harness.Node, args ...string) (int, string) {
	out, errOut, code, err := np.Run(ctx, n, append([]string{"promote"}, args...)...)
	must(t, err)
	return code, out + errOut
}

// active returns the node whose daemon says ACTIVE.
func (np *netPair) active(ctx context.Context, t *testing.T) (*harness.Node, *harness.Node) {
	for _, n := range np.Nodes {
		st, err := np.Status(ctx, n)
		if err == nil && st.State == "ACTIVE" {
			return n, np.Other(n)
		}
	}
	t.Fatalf("no node is ACTIVE")
	return nil, nil
}

func sortAcks(acks []ack) {
	sort.Slice(acks, func(i, j int) bool { return acks[i].Start.Before(acks[j].Start) })
}

// load is the client traffic of a test in network namespaces: one writer
// through the VIP, one straight to each host, and a watcher of the VIP.
type load struct {
	np     *netPair
	cancel context.CancelFunc
	vip    *writer
	direct []*writer
	watch  *vipWatch
}

// startLoad starts the writers and the VIP watcher; they run until finish
// (or the end of the test).
func (np *netPair) startLoad(ctx context.Context, t *testing.T) *load {
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	return &load{
		np:     np,
		cancel: cancel,
		watch:  np.watchVIP(wctx),
		vip:    np.startWriter(wctx, t, "vip", np.vip),
		direct: []*writer{
			np.startWriter(wctx, t, "direct-a", np.Nodes[0].Addr),
			np.startWriter(wctx, t, "direct-b", np.Nodes[1].Addr),
		},
	}
}

// loadResult is what a load saw.
type loadResult struct {
	vip, direct     []ack          // acknowledged writes; direct sorted by start
	holders         map[string]int // VIP samples per holder ("a", "b", "" or "a+b")
	active, standby *harness.Node  // the pair once settled
}

// finish stops the load, lets the pair settle and catch up, and checks the
// promises every switchover test shares: both nodes hold the same rows and
// every acknowledged write; the two nodes never accepted writes in the same
// period and each new active hands out ids above the old one's; the VIP was
// never on both hosts.
func (l *load) finish(ctx context.Context, t *testing.T) loadResult {
	t.Helper()
	l.cancel()
	res := loadResult{vip: l.vip.stop()}
	for _, w := range l.direct {
		res.direct = append(res.direct, w.stop()...)
	}
	both, holders := l.watch.stop()
	res.holders = holders
	res.active, res.standby = l.np.settled(ctx, t)
	must(t, l.np.WaitCaughtUp(ctx, res.active, res.standby))
	must(t, l.np.SameData(ctx, "writes"))
	for _, n := range l.np.Nodes {
		have := idsOn(ctx, t, n)
		missing := 0
		for _, a := range append(res.vip, res.direct...) {
			if !have[a.ID] {
				if missing == 0 {
					t.Errorf("acknowledged write %d (%s) is missing on %s", a.ID, a.Via, n.Name)
				}
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%d acknowledged writes are missing on %s", missing, n.Name)
		}
	}
	assertNoDualWriters(t, res.direct)
	if len(both) > 0 {
		t.Errorf("the VIP was on both hosts at %d sampled moments (first %s)", len(both), both[0].Format(time.StampMicro))
	}
	return res
}

// longestPause returns the longest gap between acknowledged writes through
// the VIP and logs what the client met during it, so that a long pause
// explains itself in the test's output.
func (l *load) longestPause(t *testing.T, acks []ack) time.Duration {
	t.Helper()
	pause, at := longestPause(acks)
	if pause <= 0 {
		return pause
	}
	seen := map[string]int{}
	var order []string
	for _, f := range l.vip.w.FailuresBetween(at, at.Add(pause)) {
		if seen[f.Err] == 0 {
			order = append(order, f.Err)
		}
		seen[f.Err]++
	}
	t.Logf("longest pause through the VIP: %s from %s; the client's failures then: %d kinds", pause.Round(time.Millisecond), at.Format(time.StampMilli), len(order))
	for i, e := range order {
		if i == 8 {
			break
		}
		t.Logf("  %d× %s", seen[e], e)
	}
	return pause
}
