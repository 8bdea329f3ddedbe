package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgswitch/pgswitch/integration/harness"
)

// lagEvery is how often replay_lag is sampled.
const lagEvery = 100 * time.Millisecond

// lagResult is the second figure: replay lag under a steady load.
type lagResult struct {
	samples  []float64 // non-NULL replay_lag samples in ms, sorted
	nulls    int       // samples where replay_lag was NULL
	distinct int       // times the value changed between samples
	txns     int       // transactions pgbench ran
	tps      float64   // the rate pgbench achieved
	latency  string    // pgbench's average latency
	cpu      string    // CPU time the applier's processes used during the load
	caughtUp time.Duration
	check    string
}

// quantile is the nearest-rank quantile q of the samples, NaN without any.
func (l lagResult) quantile(q float64) float64 {
	if len(l.samples) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(l.samples)))) - 1
	return l.samples[max(i, 0)]
}

// runLag runs pgbench -R on the primary while sys streams, samples the
// replay_lag of sys's walsender, then waits for the standby to catch up and
// compares the data.
func runLag(ctx context.Context, o options, sys system, p *harness.Pair) (lagResult, error) {
	var res lagResult
	a := p.Nodes[0]
	conn, err := a.Cluster.Conn(ctx, harness.DB)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	progress("%s: steady load, pgbench -N -R %d -T %d -c %d -j %d; sampling replay_lag every %v",
		sys.name, o.rate, int(o.duration.Seconds()), loadClients, loadThreads, lagEvery)

	cpuBefore, err := applierCPU(ctx, conn, sys, p)
	if err != nil {
		return res, err
	}
	var out string
	g, gctx := errgroup.WithContext(ctx)
	sampling, stopSampling := context.WithCancel(gctx)
	defer stopSampling()
	g.Go(func() error {
		defer stopSampling()
		var err error
		out, err = pgbench(gctx, a, "-N", "--no-vacuum", "-R", strconv.Itoa(o.rate), "-T", strconv.Itoa(int(o.duration.Seconds())),
			"-c", strconv.Itoa(loadClients), "-j", strconv.Itoa(loadThreads))
		return err
	})
	g.Go(func() error { return sampleLag(sampling, conn, sys.slot, &res) })
	if err := g.Wait(); err != nil {
		return res, err
	}
	cpuAfter, err := applierCPU(ctx, conn, sys, p)
	if err != nil {
		return res, err
	}
	res.cpu, _ = cpuSince(cpuBefore, cpuAfter)
	if res.txns, err = processed(out); err != nil {
		return res, err
	}
	res.tps, res.latency = pgbenchRate(out)
	slices.Sort(res.samples)

	from, err := p.WALPosition(ctx, a)
	if err != nil {
		return res, err
	}
	ended := time.Now()
	if res.caughtUp, _, err = waitApplied(ctx, conn, sys, p, from, from, ended); err != nil {
		return res, err
	}
	progress("%s: %d transactions at %.0f tx/s; %d replay_lag samples (%d NULL); caught up %v after the load; comparing the data",
		sys.name, res.txns, res.tps, len(res.samples), res.nulls, res.caughtUp.Round(time.Millisecond))
	if res.check, err = sameData(ctx, p); err != nil {
		return res, err
	}
	progress("%s: data %s", sys.name, res.check)
	return res, nil
}

// sampleLag reads replay_lag of the walsender holding slot every lagEvery
// until ctx ends, which is not an error.
func sampleLag(ctx context.Context, conn *pgx.Conn, slot string, res *lagResult) error {
	tick := time.NewTicker(lagEvery)
	defer tick.Stop()
	last := math.NaN()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var ms *float64
		err := conn.QueryRow(ctx, `
			SELECT (extract(epoch FROM r.replay_lag) * 1000)::float8
			FROM pg_catalog.pg_replication_slots s
			JOIN pg_catalog.pg_stat_replication r ON r.pid = s.active_pid
			WHERE s.slot_name = $1`, slot).Scan(&ms)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("no walsender holds slot %s during the load", slot)
		case err != nil:
			return fmt.Errorf("sampling replay_lag: %w", err)
		case ms == nil:
			res.nulls++
		default:
			res.samples = append(res.samples, *ms)
			if *ms != last {
				res.distinct++
				last = *ms
			}
		}
	}
}

var (
	tpsRE     = regexp.MustCompile(`tps = ([\d.]+)`)
	latencyRE = regexp.MustCompile(`latency average = ([\d.]+ ms)`)
)

// pgbenchRate is the rate and the average latency of pgbench's summary.
func pgbenchRate(out string) (tps float64, latency string) {
	if m := tpsRE.FindStringSubmatch(out); m != nil {
		tps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := latencyRE.FindStringSubmatch(out); m != nil {
		latency = m[1]
	}
	return tps, latency
}
