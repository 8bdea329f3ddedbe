package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// The switchover figures (make bench, issue 3 and 4): two hosts in network
// namespaces with the VIP, clients writing through the VIP from a third,
// five switchovers under that steady load; and the write throughput of the
// active with synchronous replication off and on.

const switchSchema = `
DO $$ BEGIN CREATE ROLE app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SEQUENCE tickets;
CREATE TABLE writes (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
GRANT SELECT, INSERT ON writes TO app;
GRANT USAGE ON SEQUENCE tickets TO app;
`

type switchResult struct {
	windows  []time.Duration
	took     []time.Duration
	steps    []string
	acked    int
	lost     int
	writers  int
	tpsAsync float64
	tpsSync  float64
	skipped  string
}

// vipPair is pgswitch's pair of the switchover figures: two hosts in
// network namespaces sharing a VIP, a third host for the clients and, with
// a quorum, a fourth for etcd; the pair is initialised, its daemons not
// started yet.
type vipPair struct {
	top  *pgtest.NetTopology
	etcd *pgtest.Etcd // nil: no quorum
	p    *harness.Pair
	dir  string
	gen  int // pairs built on this network so far (rebuild)
	vip  string
	port int // PostgreSQL's, the same on both hosts
}

// newVIPPair builds a vipPair in dir (made here), with an etcd member on
// its own host when quorum is set; on error nothing is left.
func newVIPPair(ctx context.Context, dir string, quorum bool) (_ *vipPair, err error) {
	hosts := []string{"a", "b", "client"}
	if quorum {
		hosts = append(hosts, "etcd")
	}
	top, err := pgtest.NewNetTopologyE(hosts...)
	if err != nil {
		return nil, err
	}
	v := &vipPair{top: top, dir: dir, vip: top.FreeAddr(0)}
	defer func() {
		if err != nil {
			v.Close()
		}
	}()
	if v.port, err = pgtest.FreePort(); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	if quorum {
		etcdDir := filepath.Join(dir, "etcd")
		if err := os.Mkdir(etcdDir, 0o700); err != nil {
			return nil, err
		}
		h := top.Hosts["etcd"]
		if v.etcd, err = pgtest.NewEtcd(ctx, etcdDir, 1, h.NS, h.Addr); err != nil {
			return nil, err
		}
	}
	progress("%s: building a pair in network namespaces with VIP %s", filepath.Base(dir), v.vip)
	return v, v.build(ctx)
}

// build creates and initialises a new pair on v's network, in its own
// directory and, with a quorum, as its own cluster in etcd.
func (v *vipPair) build(ctx context.Context) error {
	v.gen++
	dir := filepath.Join(v.dir, fmt.Sprintf("pair%d", v.gen))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	conf := maps.Clone(settings)
	conf["listen_addresses"] = "*"
	lines := []string{"vip:", fmt.Sprintf("  address: %s/%d", v.vip, v.top.PrefixLen()), "  interface: eth0", "  garp_interval: 50ms"}
	if v.etcd != nil {
		lines = append(lines, "quorum:", "  endpoints: ["+v.etcd.Endpoints()[0]+"]", fmt.Sprintf("  cluster: bench%d", v.gen))
	}
	var err error
	v.p, err = harness.New(ctx, harness.Options{
		Dir: dir, Schema: switchSchema, Settings: conf, Port: v.port,
		NetNS:  [2]string{v.top.Hosts["a"].NS, v.top.Hosts["b"].NS},
		Addrs:  [2]string{v.top.Hosts["a"].Addr, v.top.Hosts["b"].Addr},
		Config: func(int) []string { return lines },
	})
	if err != nil {
		return err
	}
	return v.p.Init(ctx)
}

// start starts both daemons and waits until the standby streams.
func (v *vipPair) start(ctx context.Context) error {
	for _, n := range v.p.Nodes {
		if err := v.p.StartDaemon(ctx, n); err != nil {
			return err
		}
	}
	return v.p.WaitStreaming(ctx, v.p.Nodes[1], true)
}

// Close stops the daemons and removes the clusters, etcd and the
// namespaces.
func (v *vipPair) Close() {
	if v.p != nil {
		v.p.Close()
	}
	if v.etcd != nil {
		_ = v.etcd.Close()
	}
	v.top.Close()
}

// viaVIP is the clients' way to the active through the VIP.
func (v *vipPair) viaVIP() target {
	return target{name: "VIP", netns: v.top.Hosts["client"].NS,
		dsn: fmt.Sprintf("host=%s port=%d user=app dbname=%s sslmode=disable", v.vip, v.port, harness.DB)}
}

// viaHosts is the clients' way to the active through a libpq multi-host
// DSN of both hosts' own addresses: the standby refuses the app role, or
// is read-only, and the client tries the next host.
func (v *vipPair) viaHosts() target {
	a, b := v.p.Nodes[0], v.p.Nodes[1]
	return target{name: "multi-host DSN", netns: v.top.Hosts["client"].NS,
		dsn: fmt.Sprintf("host=%s,%s port=%d,%d user=app dbname=%s sslmode=disable target_session_attrs=read-write",
			a.Addr, b.Addr, v.port, v.port, harness.DB)}
}

// active is the node whose daemon reports ACTIVE (node-a when neither
// answers so), and the other.
func (v *vipPair) active(ctx context.Context) (active, standby *harness.Node) {
	a, b := v.p.Nodes[0], v.p.Nodes[1]
	if st, err := v.p.Status(ctx, b); err == nil && st.State == "ACTIVE" {
		return b, a
	}
	return a, b
}

// promote runs a switchover from the active and returns promote's step
// summary and how long the command took, once the old active streams as
// the standby.
func (v *vipPair) promote(ctx context.Context) (string, time.Duration, error) {
	active, _ := v.active(ctx)
	start := time.Now()
	out, errOut, code, err := v.p.Run(ctx, active, "promote")
	took := time.Since(start)
	if err != nil || code != 0 {
		return "", took, fmt.Errorf("promote on %s: exit %d %v\n%s%s", active.Name, code, err, out, errOut)
	}
	if err := v.p.WaitStreaming(ctx, active, true); err != nil {
		return "", took, err
	}
	return stepSummary(out), took, nil
}

func runSwitchovers(ctx context.Context, work string, rounds int) (switchResult, error) {
	res := switchResult{writers: 4}
	if os.Geteuid() != 0 {
		res.skipped = "needs root (network namespaces for the VIP)"
		return res, nil
	}
	v, err := newVIPPair(ctx, filepath.Join(work, "switchover"), false)
	if err != nil {
		return res, err
	}
	defer v.Close()
	p, dir := v.p, v.p.Dir
	a, b := p.Nodes[0], p.Nodes[1]

	// Write throughput on the active, synchronous replication off and on.
	script := filepath.Join(dir, "insert.sql")
	if err := os.WriteFile(script, []byte("INSERT INTO writes (id) VALUES (nextval('tickets'));\n"), 0o644); err != nil {
		return res, err
	}
	for _, sync := range []bool{false, true} {
		env := []string{fmt.Sprintf("PGSWITCH_REPLICATION_SYNCHRONOUS=%t", sync)}
		for _, n := range p.Nodes {
			if n.Daemon != nil {
				_ = n.Daemon.Kill9()
			}
			if err := p.StartDaemonEnv(ctx, n, env); err != nil {
				return res, err
			}
		}
		if err := p.WaitStreaming(ctx, b, true); err != nil {
			return res, err
		}
		if sync {
			if err := pgtest.WaitFor(ctx, "synchronous_standby_names on the active", func() (bool, error) {
				s, err := a.Cluster.QueryString(ctx, harness.DB, "SHOW synchronous_standby_names")
				return s != "", err
			}); err != nil {
				return res, err
			}
		}
		progress("switchover: pgbench inserts for 10s, synchronous=%t", sync)
		out, err := a.Cluster.Pgbench(ctx, harness.DB, "-n", "-f", script, "-c", "4", "-j", "2", "-T", "10")
		if err != nil {
			return res, fmt.Errorf("pgbench: %w\n%s", err, out)
		}
		tps, _ := pgbenchRate(out)
		if sync {
			res.tpsSync = tps
		} else {
			res.tpsAsync = tps
		}
	}
	for _, n := range p.Nodes {
		_ = n.Daemon.Kill9()
		if err := p.StartDaemon(ctx, n); err != nil {
			return res, err
		}
	}
	if err := p.WaitStreaming(ctx, b, true); err != nil {
		return res, err
	}

	// Five switchovers under writes through the VIP.
	wctx, stop := context.WithCancel(ctx)
	w := startWriters(wctx, v.viaVIP(), res.writers, writeRate)
	type span struct{ start, end time.Time }
	var spans []span
	for i := 0; i < rounds; i++ {
		sleep(ctx, 1500*time.Millisecond)
		active, standby := v.active(ctx)
		progress("switchover %d of %d: %s → %s", i+1, rounds, active.Name, standby.Name)
		start := time.Now()
		steps, took, err := v.promote(ctx)
		if err != nil {
			stop()
			w.Wait()
			return res, err
		}
		spans = append(spans, span{start, start.Add(took)})
		res.took = append(res.took, took)
		res.steps = append(res.steps, steps)
	}
	sleep(ctx, time.Second)
	stop()
	acks, _ := w.Wait()
	res.acked = len(acks)
	for _, s := range spans {
		gap, _ := harness.LongestGap(acks, s.start.Add(-500*time.Millisecond), s.end.Add(3*time.Second))
		res.windows = append(res.windows, gap)
	}

	// Every acknowledged write is on both nodes.
	active, _ := v.active(ctx)
	if err := p.WaitCaughtUp(ctx, active, p.Other(active)); err != nil {
		return res, err
	}
	for _, n := range p.Nodes {
		have, err := harness.IDs(ctx, n, "SELECT id FROM writes")
		if err != nil {
			return res, err
		}
		res.lost += harness.Missing(acks, have)
	}
	return res, nil
}

var stepRE = regexp.MustCompile(`(?m)^\s*\S+\s+(node-\w)\s+(\S+)\s+\(\+([^)]+)\)`)

// stepSummary condenses promote's step lines: "node-a REQUESTING_SWITCH +0s, …".
func stepSummary(out string) string {
	var parts []string
	for _, m := range stepRE.FindAllStringSubmatch(out, -1) {
		parts = append(parts, fmt.Sprintf("%s %s +%s", m[1], m[2], m[3]))
	}
	return strings.Join(parts, ", ")
}

// writeRate is the steady write load through the VIP, per second.
const writeRate = 1000

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (r switchResult) print(w io.Writer) {
	fmt.Fprintln(w)
	if r.skipped != "" {
		fmt.Fprintf(w, "switchover figures skipped: %s\n", r.skipped)
		return
	}
	sorted := slices.Clone(r.windows)
	slices.Sort(sorted)
	median := sorted[len(sorted)/2]
	fmt.Fprintf(w, "%-40s %-16s %s\n", "figure", "pgswitch", "target")
	fmt.Fprintf(w, "%-40s %-16s %s\n", fmt.Sprintf("write pause through the VIP, %d switchovers", len(r.windows)),
		fmt.Sprintf("median %s, max %s", median.Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond)), "median < 1 s (stretch 300 ms)")
	fmt.Fprintf(w, "%-40s %-16d %s\n", "acknowledged writes lost", r.lost, "0")
	fmt.Fprintf(w, "%-40s %-16s %s\n", "inserts/s on the active, async / sync", fmt.Sprintf("%.0f / %.0f", r.tpsAsync, r.tpsSync),
		fmt.Sprintf("sync costs %.0f%%", 100*(1-r.tpsSync/r.tpsAsync)))
	fmt.Fprintf(w, "\nswitchovers (%d clients writing through the VIP, %d writes/s in all, %d writes acknowledged):\n", r.writers, writeRate, r.acked)
	for i := range r.windows {
		fmt.Fprintf(w, "  %d: write pause %s, promote took %s: %s\n", i+1, r.windows[i].Round(time.Millisecond), r.took[i].Round(time.Millisecond), r.steps[i])
	}
	fmt.Fprintln(w, "  write pause: the longest gap between two acknowledged writes around the switchover (clients reconnect after 10 ms, 300 ms connect timeout)")
}
