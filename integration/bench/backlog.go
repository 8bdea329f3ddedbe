package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/replication"
)

// pgbench's clients and threads: the steady load uses loadClients; the
// backlog is written by more clients, which the fsync-bound primary needs
// to write it quickly (the applier sees one stream in commit order either
// way).
const (
	loadClients    = 4
	backlogClients = 8
	loadThreads    = 2
)

// applyTimeout bounds how long the applier may take to reach a target.
const applyTimeout = 5 * time.Minute

// backlogResult is the first figure: applying a backlog.
type backlogResult struct {
	txns     int           // transactions in the backlog
	walBytes int64         // WAL the primary wrote for them
	built    time.Duration // pgbench's time to write the backlog
	applied  time.Duration // start → replay_lsn reached the end of the backlog
	flushed  time.Duration // start → confirmed_flush_lsn reached it
	cpu      string        // CPU time of the processes that did the work
	cpuTotal time.Duration // the sum of it
	check    string
}

func (b backlogResult) tps() float64 { return float64(b.txns) / b.applied.Seconds() }

// cpuPerTxn is the CPU time the backlog cost per transaction.
func (b backlogResult) cpuPerTxn() time.Duration {
	if b.txns == 0 {
		return 0
	}
	return b.cpuTotal / time.Duration(b.txns)
}

// runBacklog writes the backlog while sys is not applying, then starts it
// and times how long it takes to apply everything, and compares the data.
func runBacklog(ctx context.Context, o options, sys system, p *harness.Pair) (backlogResult, error) {
	var res backlogResult
	a := p.Nodes[0]
	from, err := p.WALPosition(ctx, a)
	if err != nil {
		return res, err
	}
	perClient := (o.backlog + backlogClients - 1) / backlogClients
	progress("%s: writing a backlog of %d pgbench -N transactions (applier stopped)", sys.name, perClient*backlogClients)
	began := time.Now()
	out, err := pgbench(ctx, a, "-N", "--no-vacuum", "-c", strconv.Itoa(backlogClients), "-j", strconv.Itoa(loadThreads),
		"-t", strconv.Itoa(perClient))
	if err != nil {
		return res, err
	}
	res.built = time.Since(began)
	if res.txns, err = processed(out); err != nil {
		return res, err
	}
	target, err := p.WALPosition(ctx, a)
	if err != nil {
		return res, err
	}
	res.walBytes = int64(target - from)
	progress("%s: backlog of %d transactions, %.1f MB of WAL, written in %v; starting the applier",
		sys.name, res.txns, float64(res.walBytes)/1e6, res.built.Round(time.Millisecond))

	conn, err := a.Cluster.Conn(ctx, harness.DB)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	began = time.Now()
	if err := sys.start(ctx, p); err != nil {
		return res, fmt.Errorf("starting the applier: %w", err)
	}
	if res.applied, res.flushed, err = waitApplied(ctx, conn, sys, p, from, target, began); err != nil {
		return res, err
	}
	// All these processes started with the applier.
	cpu, err := applierCPU(ctx, conn, sys, p)
	if err != nil {
		return res, err
	}
	res.cpu, res.cpuTotal = cpuSince(nil, cpu)
	progress("%s: backlog applied in %v (%.0f tx/s), flushed after %v; CPU %s; comparing the data",
		sys.name, res.applied.Round(time.Millisecond), res.tps(), res.flushed.Round(time.Millisecond), res.cpu)
	if res.check, err = sameData(ctx, p); err != nil {
		return res, err
	}
	progress("%s: data %s", sys.name, res.check)
	return res, nil
}

// waitApplied polls the slot's progress on the primary until both the
// applied and the flushed position reached target, and returns when each
// first did, measured from began.
func waitApplied(ctx context.Context, conn *pgx.Conn, sys system, p *harness.Pair, from, target replication.LSN, began time.Time) (applied, flushed time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	report := time.Now()
	for applied == 0 || flushed == 0 {
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("waiting for slot %s to reach %s: %w", sys.slot, target, ctx.Err())
		case <-poll.C:
		}
		a, f, err := slotProgress(ctx, conn, sys.slot)
		if err != nil {
			return 0, 0, err
		}
		now := time.Since(began)
		if applied == 0 && a >= target {
			applied = now
		}
		if flushed == 0 && f >= target {
			flushed = now
		}
		if time.Since(report) >= 5*time.Second {
			report = time.Now()
			if err := sys.alive(p); err != nil {
				return 0, 0, err
			}
			progress("%s: applied %s of %s (%.0f%%)", sys.name, a, target, percent(a, from, target))
		}
	}
	return applied, flushed, nil
}

// procCPU is the CPU time a named process has used so far.
type procCPU struct {
	name   string
	pid    int
	used   time.Duration
	waited time.Duration // runnable but waiting for a CPU (other work on the machine)
}

// applierCPU is the CPU time each process that applies for sys has used so
// far: the walsender of its slot and the processes sys names.
func applierCPU(ctx context.Context, conn *pgx.Conn, sys system, p *harness.Pair) ([]procCPU, error) {
	var walsender int
	if err := conn.QueryRow(ctx, "SELECT active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND active",
		sys.slot).Scan(&walsender); err != nil {
		return nil, fmt.Errorf("looking up the walsender of slot %s: %w", sys.slot, err)
	}
	procs, err := sys.processes(ctx, p)
	if err != nil {
		return nil, err
	}
	out := []procCPU{{name: "walsender", pid: walsender}}
	for _, pr := range procs {
		out = append(out, procCPU{name: pr.name, pid: pr.pid})
	}
	for i := range out {
		if out[i].used, err = cpuTime(out[i].pid); err != nil {
			return nil, err
		}
		// Not on every kernel (CONFIG_SCHEDSTATS); the figure is left out then.
		out[i].waited, _ = runQueueWait(out[i].pid)
	}
	return out, nil
}

// cpuSince describes the CPU time used since the earlier reading (nil:
// since the processes started), per process and in total, and returns the
// total.
func cpuSince(earlier, now []procCPU) (string, time.Duration) {
	var parts []string
	var total, waited time.Duration
	for i, pr := range now {
		used, wait := pr.used, pr.waited
		if i < len(earlier) && earlier[i].pid == pr.pid {
			used -= earlier[i].used
			wait -= earlier[i].waited
		}
		total += used
		waited += wait
		parts = append(parts, fmt.Sprintf("%s %.1fs", pr.name, used.Seconds()))
	}
	desc := fmt.Sprintf("%.1fs (%s)", total.Seconds(), strings.Join(parts, ", "))
	if waited > 0 {
		desc += fmt.Sprintf("; runnable but waiting for a CPU %.1fs", waited.Seconds())
	}
	return desc, total
}

// percent is how far pos is from from to target.
func percent(pos, from, target replication.LSN) float64 {
	if pos <= from || target <= from {
		return 0
	}
	return 100 * float64(pos-from) / float64(target-from)
}

var processedRE = regexp.MustCompile(`number of transactions actually processed: (\d+)`)

// processed is the transaction count of pgbench's summary.
func processed(out string) (int, error) {
	m := processedRE.FindStringSubmatch(out)
	if m == nil {
		return 0, errors.New("no transaction count in pgbench's output:\n" + out)
	}
	return strconv.Atoi(m[1])
}
