// Command bench measures pgswitch's applier beside PostgreSQL's native
// logical replication on identical pairs of local clusters (make bench):
//
//   - how fast a backlog of pgbench -N transactions, written while the
//     applier was stopped, is applied once it starts;
//   - the replay lag the primary's walsender reports at a steady rate;
//   - the write pause of switchovers under load through the VIP;
//   - side by side with Patroni on the same machine (the peers part):
//     planned switchovers, host losses and acknowledged writes lost,
//     under the same writer.
//
// Progress goes to stderr, the results to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// options are the command-line flags.
type options struct {
	backlog     int           // pgbench -N transactions in the backlog
	rate        int           // pgbench -R during the lag measurement
	duration    time.Duration // pgbench -T during the lag measurement
	scale       int           // pgbench -i -s
	only        string        // pgswitch | native | both
	keep        bool          // keep the work directory (daemon logs)
	switchovers int           // switchovers to time under load (0: none)
	alone       bool          // also measure pgswitch's backlog with every source transaction applied alone
	profile     string        // directory for CPU profiles of the daemon during the backlog
	peers       bool          // compare with Patroni (make bench's peers part)
	peerRuns    int           // runs of each figure in the comparison
	peerSystems string        // comma-separated: which systems the comparison measures
}

func main() {
	var o options
	flag.IntVar(&o.backlog, "backlog", 50000, "pgbench -N transactions in the backlog")
	flag.IntVar(&o.rate, "rate", 2000, "transactions per second (pgbench -R) during the lag measurement")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "length of the lag measurement (pgbench -T)")
	flag.IntVar(&o.scale, "scale", 10, "pgbench scale factor (pgbench -i -s)")
	flag.StringVar(&o.only, "only", "both", "which to measure: pgswitch, native or both (both: then the switchovers and the comparison with the peers), or peers (only the comparison)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory with the daemon logs")
	flag.IntVar(&o.switchovers, "switchovers", 5, "switchovers to time under a write load through the VIP (needs root)")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of pgswitch's daemon during each backlog into this directory (go tool pprof)")
	flag.BoolVar(&o.alone, "alone", true, "also replay the backlog with replication.group_max = 1 (each source transaction alone), for comparison")
	flag.BoolVar(&o.peers, "peers", true, "compare switchovers and host losses with Patroni's on the same machine (needs root)")
	flag.IntVar(&o.peerRuns, "peer-runs", 3, "runs of each figure in the comparison with the peers")
	flag.StringVar(&o.peerSystems, "peer-systems", "pgswitch,patroni",
		"comma-separated systems the comparison measures: "+strings.Join(peerSystems, ", ")+" (pg_auto_failover adds about 3½ minutes)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	interrupted := ctx.Err() != nil // before stop, which cancels ctx
	stop()
	pgtest.Cleanup()
	if err != nil {
		if interrupted {
			err = fmt.Errorf("interrupted (everything removed): %w", err)
		}
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// profilePath is where the daemon of system name writes its profile ("":
// none).
func (o options) profilePath(name string) string {
	if o.profile == "" {
		return ""
	}
	abs, err := filepath.Abs(filepath.Join(o.profile, name+".pprof"))
	if err != nil {
		return filepath.Join(o.profile, name+".pprof")
	}
	return abs
}

func (o options) validate() error {
	switch {
	case o.only != "pgswitch" && o.only != "native" && o.only != "both" && o.only != "peers":
		return fmt.Errorf("-only %q: want pgswitch, native, both or peers", o.only)
	case o.only == "peers" && !o.peers:
		return errors.New("-only peers with -peers=false: nothing to measure")
	case o.peers && o.peerRuns < 1:
		return fmt.Errorf("-peer-runs %d: want at least 1", o.peerRuns)
	case o.peers && !validPeerSystems(o.peerSystems):
		return fmt.Errorf("-peer-systems %q: want a comma-separated list of %s", o.peerSystems, strings.Join(peerSystems, ", "))
	case o.backlog < backlogClients:
		return fmt.Errorf("-backlog %d: want at least %d", o.backlog, backlogClients)
	case o.rate <= 0 || o.scale <= 0:
		return errors.New("-rate and -scale must be positive")
	case o.duration < time.Second:
		return fmt.Errorf("-duration %v: want at least 1s", o.duration)
	}
	return nil
}

func run(ctx context.Context, o options) error {
	if err := o.validate(); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "pgswitch-bench-")
	if err != nil {
		return fmt.Errorf("creating the work directory: %w", err)
	}
	// The postgres user must reach the clusters below it.
	if err := os.Chmod(work, 0o755); err != nil {
		return fmt.Errorf("creating the work directory: %w", err)
	}
	if o.keep {
		defer progress("kept the work directory %s", work)
	} else {
		defer os.RemoveAll(work)
	}

	if o.only != "peers" {
		if err := runApplyAndSwitchovers(ctx, o, work); err != nil {
			return err
		}
	}
	if !o.peers || (o.only != "both" && o.only != "peers") {
		return nil
	}
	rep, err := runPeers(ctx, work, o.peerRuns, strings.Split(o.peerSystems, ","))
	if err != nil {
		return fmt.Errorf("comparison with the peers: %w", err)
	}
	rep.print(os.Stdout)
	return nil
}

// runApplyAndSwitchovers is the apply figures beside native logical
// replication, then the switchovers under load through the VIP.
func runApplyAndSwitchovers(ctx context.Context, o options, work string) error {
	var systems []system
	if o.only != "native" {
		systems = append(systems, pgswitchSystem("pgswitch", "pgswitch (defaults: grouped)", nil, o.profilePath("pgswitch")))
		if o.alone {
			alone := pgswitchSystem("pgswitch-alone", "pgswitch, group_max 1 (each alone)", []string{"PGSWITCH_REPLICATION_GROUP_MAX=1"}, o.profilePath("pgswitch-alone"))
			alone.backlogOnly = true
			systems = append(systems, alone)
		}
	}
	if o.only != "pgswitch" {
		systems = append(systems, nativeSystem())
	}
	rep := report{opts: o, fs: fileSystem(work), others: otherPostmasters(work), loadBefore: loadAverage()}
	pairs, err := newPairs(ctx, work, systems)
	defer func() {
		for _, p := range pairs {
			p.Close()
		}
	}()
	if err != nil {
		return err
	}
	for i, sys := range systems {
		res, err := measure(ctx, o, sys, pairs[i])
		if err != nil {
			return fmt.Errorf("%s: %w", sys.name, err)
		}
		pairs[i].Close() // the next system runs alone
		rep.add(res)
	}
	rep.loadAfter = loadAverage()
	rep.print(os.Stdout)
	if o.only == "native" || o.switchovers == 0 {
		return nil
	}
	sw, err := runSwitchovers(ctx, work, o.switchovers)
	if err != nil {
		return fmt.Errorf("switchovers: %w", err)
	}
	sw.print(os.Stdout)
	return nil
}

// newPairs builds a pair of clusters for each system, all at once and all
// alike. The pairs are returned even on error, for the caller to close.
func newPairs(ctx context.Context, work string, systems []system) ([]*harness.Pair, error) {
	progress("building %d pair(s) of clusters", len(systems))
	pairs := make([]*harness.Pair, len(systems))
	g, gctx := errgroup.WithContext(ctx)
	for i, sys := range systems {
		g.Go(func() error {
			dir := filepath.Join(work, sys.name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				return fmt.Errorf("creating %s: %w", dir, err)
			}
			p, err := harness.New(gctx, harness.Options{Dir: dir, Settings: settings})
			if err != nil {
				return fmt.Errorf("building the pair for %s: %w", sys.name, err)
			}
			pairs[i] = p
			return nil
		})
	}
	err := g.Wait()
	return slices.DeleteFunc(pairs, func(p *harness.Pair) bool { return p == nil }), err
}

// measure loads the data into sys's pair, sets up replication, and runs the
// backlog and then the lag measurement.
func measure(ctx context.Context, o options, sys system, p *harness.Pair) (result, error) {
	res := result{system: sys.name, desc: sys.desc, backlogOnly: sys.backlogOnly}
	var err error
	if res.server, err = describeServer(ctx, p.Nodes[0]); err != nil {
		return res, err
	}
	progress("%s: loading pgbench -s %d and setting up replication (not applying yet)", sys.name, o.scale)
	if err := sys.setup(ctx, p, o.scale); err != nil {
		return res, fmt.Errorf("setting up: %w", err)
	}
	if err := settle(ctx, p); err != nil {
		return res, err
	}
	if res.backlog, err = runBacklog(ctx, o, sys, p); err != nil {
		return res, fmt.Errorf("backlog: %w", err)
	}
	if sys.backlogOnly {
		res.notes, err = sys.inspect(ctx, p)
		if err == nil && sys.afterBacklog != nil {
			err = sys.afterBacklog(ctx, p)
		}
		return res, err
	}
	if sys.afterBacklog != nil {
		if err := sys.afterBacklog(ctx, p); err != nil {
			return res, err
		}
	}
	if res.lag, err = runLag(ctx, o, sys, p); err != nil {
		return res, fmt.Errorf("lag: %w", err)
	}
	if res.notes, err = sys.inspect(ctx, p); err != nil {
		return res, fmt.Errorf("inspecting: %w", err)
	}
	return res, nil
}

func validPeerSystems(list string) bool {
	for _, s := range strings.Split(list, ",") {
		if !slices.Contains(peerSystems, s) {
			return false
		}
	}
	return true
}

var began = time.Now()

// progress prints a line to stderr with the time since the start.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
}
