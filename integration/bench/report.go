package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// result is everything measured for one system.
type result struct {
	system      string
	desc        string
	backlogOnly bool // a variant measured on the backlog only
	server      serverInfo
	backlog     backlogResult
	lag         lagResult
	notes       []string
}

// report collects the results and prints them side by side.
type report struct {
	opts    options
	results map[string]result // by system name
	order   []string          // system names in the order measured

	fs                    string // file system of the clusters
	others                int    // PostgreSQL servers not ours, at the start
	loadBefore, loadAfter string // 1-minute load averages
}

func (r *report) add(res result) {
	if r.results == nil {
		r.results = map[string]result{}
	}
	r.results[res.system] = res
	r.order = append(r.order, res.system)
}

func (r *report) print(w io.Writer) {
	o := r.opts
	pg, nat := r.results["pgswitch"], r.results["native"]
	_, havePg := r.results["pgswitch"]
	_, haveNat := r.results["native"]
	cell := func(ok bool, f func() string) string {
		if !ok {
			return "—"
		}
		return f()
	}
	lag := func(res result) func() string {
		return func() string {
			return fmt.Sprintf("%s / %s ms", ms(res.lag.quantile(0.5)), ms(res.lag.quantile(0.99)))
		}
	}
	lagMax := func(res result) func() string {
		return func() string { return ms(res.lag.quantile(1)) + " ms" }
	}
	txns := pg.backlog.txns
	if !havePg {
		txns = nat.backlog.txns
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "backlog apply (pgbench -N, %s tx)\ttx/s\t÷ native (target ≥ 1.0)\tCPU per tx\tCPU\n", thousands(txns))
	for _, name := range r.order {
		res := r.results[name]
		ratio := "—"
		if haveNat {
			ratio = fmt.Sprintf("%.2f", res.backlog.tps()/nat.backlog.tps())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f µs\t%.1f s\n", res.desc, thousands(int(math.Round(res.backlog.tps()))), ratio,
			float64(res.backlog.cpuPerTxn())/float64(time.Microsecond), res.backlog.cpuTotal.Seconds())
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "figure\tpgswitch\tnative\ttarget")
	fmt.Fprintf(tw, "replay lag p50 / p99 at %s tps\t%s\t%s\t(target p99 < 10 ms)\n", thousands(o.rate), cell(havePg, lag(pg)), cell(haveNat, lag(nat)))
	fmt.Fprintf(tw, "replay lag max\t%s\t%s\t\n", cell(havePg, lagMax(pg)), cell(haveNat, lagMax(nat)))
	tw.Flush()

	fmt.Fprintln(w)
	for _, name := range slices.Sorted(maps.Keys(r.results)) {
		res := r.results[name]
		b, l := res.backlog, res.lag
		fmt.Fprintf(w, "%s:\n", name)
		fmt.Fprintf(w, "  backlog: %s tx, %.1f MB of WAL, written by pgbench in %v (applier stopped)\n",
			thousands(b.txns), float64(b.walBytes)/1e6, b.built.Round(time.Millisecond))
		fmt.Fprintf(w, "  applied in %v = %s tps (replay_lsn); flushed (confirmed_flush_lsn) after %v\n",
			b.applied.Round(time.Millisecond), thousands(int(math.Round(b.tps()))), b.flushed.Round(time.Millisecond))
		fmt.Fprintf(w, "  CPU used applying it: %s\n", b.cpu)
		fmt.Fprintf(w, "  data after the backlog: %s\n", b.check)
		if res.backlogOnly {
			for _, n := range res.notes {
				fmt.Fprintf(w, "  %s\n", n)
			}
			continue
		}
		fmt.Fprintf(w, "  steady load: %s tx at %.0f tps, pgbench latency average %s\n", thousands(l.txns), l.tps, l.latency)
		if l.tps < 0.95*float64(o.rate) {
			fmt.Fprintf(w, "  WARNING: the primary sustained only %.0f of the %s tps asked for (pgbench -c %d, synchronous_commit = on):\n"+
				"    it was saturated, pgbench fell behind its schedule, and the lag figures are not at a steady %s tps\n",
				l.tps, thousands(o.rate), loadClients, thousands(o.rate))
		}
		fmt.Fprintf(w, "  CPU used applying it: %s\n", l.cpu)
		fmt.Fprintf(w, "  replay_lag: %d non-NULL samples (%d NULL, left out), %d distinct values; p50 %s, p99 %s, max %s ms\n",
			len(l.samples), l.nulls, l.distinct, ms(l.quantile(0.5)), ms(l.quantile(0.99)), ms(l.quantile(1)))
		fmt.Fprintf(w, "  replay_lsn reached the primary's WAL position %v after the load ended\n", l.caughtUp.Round(time.Millisecond))
		fmt.Fprintf(w, "  data after the load: %s\n", l.check)
		for _, n := range res.notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}

	var server serverInfo
	for _, res := range r.results {
		server = res.server
	}
	fmt.Fprintf(w, "\nmachine: %d CPUs (%s), %s; clusters on %s\n", runtime.NumCPU(), cpuModel(), server.version, r.fs)
	fmt.Fprintf(w, "load average %s before, %s after; %d other PostgreSQL server(s) running at the start\n", r.loadBefore, r.loadAfter, r.others)
	if load, _ := strconv.ParseFloat(r.loadBefore, 64); r.others > 0 || load > 1 {
		fmt.Fprintln(w, "WARNING: the machine was busy with other work at the start: the figures are noisy")
	}
	fmt.Fprintf(w, "settings (every cluster): %s\n", strings.Join(server.settings, ", "))
	fmt.Fprintf(w, "pgbench -i -s %d; pgbench_history given hid bigserial PRIMARY KEY on both nodes; both nodes VACUUM (FREEZE, ANALYZE) + CHECKPOINT before the timed phases\n", o.scale)
	fmt.Fprint(w, `how it was measured (the same way for both, on the primary, each on a fresh pair):
  backlog: pgbench -N -c 8 -j 2 with the applier stopped; the target is pg_current_wal_lsn() after it;
    the clock starts when the daemon is started (pgswitch) or ALTER SUBSCRIPTION ... ENABLE is issued (native)
    and stops when pg_stat_replication.replay_lsn of the walsender holding the slot (the applied position
    the consumer reports) reaches the target, polled every 10 ms; tps = backlog transactions / that time.
  replay lag: pg_stat_replication.replay_lag of the walsender holding the slot (pgswitch_node_b for pgswitch,
    bench_sub for native), sampled every 100 ms while pgbench -N -R runs; NULL samples are left out.
    PostgreSQL 15's walsender times at most one transaction per second for logical replication, so the
    samples repeat: "distinct values" says how many measurements they hold.
  CPU: user+system time (/proc/<pid>/stat) of the walsender and the applying processes on the standby;
    for the backlog from their start (with the applier) until it was applied, for the load from its start to its end.
    "runnable but waiting for a CPU" sums their threads' run-queue wait (/proc/<pid>/task/*/schedstat) over the
    same span: time other work on the machine held them back (0 on a quiet machine, large on a shared one).
  both appliers commit with synchronous_commit = off (pgswitch's default; the subscription's default).
  pgswitch groups consecutive whole source transactions into one local transaction while a backlog waits
    (replication.group_max, default 64); pgswitch-alone is the same backlog on its own pair with group_max = 1,
    every source transaction in a local transaction of its own (the applier before grouping).
  CPU per tx: the backlog's CPU (walsender + applying processes) / its transactions.
  pgswitch: only the standby's daemon runs (as in the integration tests), so it may log the peer's API as
    unreachable; its data came from pgswitch init's copy.
  native: both nodes loaded by pgbench -i (deterministic), subscription with copy_data = false.
`)
}

// ms formats milliseconds.
func ms(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}

// thousands formats n with commas: 12,345.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// cpuModel is the first model name in /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
