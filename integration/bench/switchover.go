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

	"github.com/jackc/pgx/v5"

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

func runSwitchovers(ctx context.Context, work string, rounds int) (switchResult, error) {
	res := switchResult{writers: 4}
	if os.Geteuid() != 0 {
		res.skipped = "needs root (network namespaces for the VIP)"
		return res, nil
	}
	top, err := pgtest.NewNetTopologyE("a", "b", "client")
	if err != nil {
		return res, err
	}
	defer top.Close()
	port, err := pgtest.FreePort()
	if err != nil {
		return res, err
	}
	dir := filepath.Join(work, "switchover")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return res, err
	}
	vip := top.FreeAddr(0)
	conf := maps.Clone(settings)
	conf["listen_addresses"] = "*"
	progress("switchover: building a pair in network namespaces with VIP %s", vip)
	p, err := harness.New(ctx, harness.Options{
		Dir: dir, Schema: switchSchema, Settings: conf, Port: port,
		NetNS: [2]string{top.Hosts["a"].NS, top.Hosts["b"].NS},
		Addrs: [2]string{top.Hosts["a"].Addr, top.Hosts["b"].Addr},
		Config: func(int) []string {
			return []string{"vip:", fmt.Sprintf("  address: %s/%d", vip, top.PrefixLen()), "  interface: eth0", "  garp_interval: 50ms"}
		},
	})
	if err != nil {
		return res, err
	}
	defer p.Close()
	if err := p.Init(ctx); err != nil {
		return res, err
	}
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
	w := harness.StartWriters(wctx, harness.WriterOptions{
		Clients: res.writers, Rate: writeRate, ConnectTimeout: 300 * time.Millisecond,
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=app dbname=%s sslmode=disable", vip, port, harness.DB))
			if err != nil {
				return nil, err
			}
			cfg.DialFunc = pgtest.NSDialer(top.Hosts["client"].NS)
			return pgx.ConnectConfig(ctx, cfg)
		},
		Insert: "INSERT INTO writes (id) VALUES (nextval('tickets')) RETURNING id",
	})
	type span struct{ start, end time.Time }
	var spans []span
	for i := 0; i < rounds; i++ {
		sleep(ctx, 1500*time.Millisecond)
		active, standby := a, b
		if st, err := p.Status(ctx, b); err == nil && st.State == "ACTIVE" {
			active, standby = b, a
		}
		progress("switchover %d of %d: %s → %s", i+1, rounds, active.Name, standby.Name)
		start := time.Now()
		out, errOut, code, err := p.Run(ctx, active, "promote")
		end := time.Now()
		if err != nil || code != 0 {
			stop()
			w.Wait()
			return res, fmt.Errorf("promote: exit %d %v\n%s%s", code, err, out, errOut)
		}
		spans = append(spans, span{start, end})
		res.took = append(res.took, end.Sub(start))
		res.steps = append(res.steps, stepSummary(out))
		if err := p.WaitStreaming(ctx, active, true); err != nil {
			stop()
			w.Wait()
			return res, err
		}
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
	active := a
	if st, err := p.Status(ctx, b); err == nil && st.State == "ACTIVE" {
		active = b
	}
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
