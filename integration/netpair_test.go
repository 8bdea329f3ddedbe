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
	pgtest.Need(t)
	top := pgtest.NewNetTopology(t, "a", "b", "client")
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
type ack struct {
	id         int64
	via        string
	start, end time.Time
}

// writer inserts rows as fast as it can through one address, reconnecting
// after errors, and records every acknowledged row.
type writer struct {
	np   *netPair
	via  string // host address
	name string
	mu   sync.Mutex
	acks []ack
	errs int
	wg   sync.WaitGroup
}

func (np *netPair) startWriter(ctx context.Context, t *testing.T, name, host string) *writer {
	w := &writer{np: np, via: host, name: name}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		var conn *pgx.Conn
		defer func() {
			if conn != nil {
				conn.Close(context.Background())
			}
		}()
		for ctx.Err() == nil {
			if conn == nil {
				cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				c, err := np.clientConn(cctx, host)
				cancel()
				if err != nil {
					w.fail()
					sleepCtx(ctx, 10*time.Millisecond)
					continue
				}
				conn = c
			}
			start := time.Now()
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			var id int64
			err := conn.QueryRow(qctx, "INSERT INTO writes (id, via) VALUES (nextval('tickets'), $1) RETURNING id", name).Scan(&id)
			cancel()
			if err != nil {
				w.fail()
				conn.Close(context.Background())
				conn = nil
				sleepCtx(ctx, 10*time.Millisecond)
				continue
			}
			w.mu.Lock()
			w.acks = append(w.acks, ack{id: id, via: name, start: start, end: time.Now()})
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) fail() {
	w.mu.Lock()
	w.errs++
	w.mu.Unlock()
}

func (w *writer) stop() []ack {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ack(nil), w.acks...)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// longestPause is the longest time between two consecutive acknowledged
// writes (the write-unavailability window).
func longestPause(acks []ack) (time.Duration, time.Time) {
	sort.Slice(acks, func(i, j int) bool { return acks[i].end.Before(acks[j].end) })
	var worst time.Duration
	var at time.Time
	for i := 1; i < len(acks); i++ {
		if d := acks[i].end.Sub(acks[i-1].end); d > worst {
			worst, at = d, acks[i-1].end
		}
	}
	return worst, at
}

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
	conn, err := n.Cluster.Conn(ctx, harness.DB)
	must(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id FROM writes")
	must(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	must(t, err)
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out
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
	sort.Slice(acks, func(i, j int) bool { return acks[i].start.Before(acks[j].start) })
}
