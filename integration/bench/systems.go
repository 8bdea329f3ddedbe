package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pgswitch/pgswitch/integration/harness"
)

// A system keeps the standby (Nodes[1]) in sync with the primary (Nodes[0]).
type system struct {
	name string
	desc string // for the report
	slot string // its slot on the primary
	// backlogOnly: measured on the backlog only (a variant for comparison).
	backlogOnly bool
	// setup loads the pgbench tables and configures replication so that the
	// slot exists but nothing is applied yet.
	setup func(ctx context.Context, p *harness.Pair, scale int) error
	// start begins applying.
	start func(ctx context.Context, p *harness.Pair) error
	// afterBacklog, if set, runs once the backlog is applied and checked.
	afterBacklog func(ctx context.Context, p *harness.Pair) error
	// alive fails when the applier is gone for good.
	alive func(p *harness.Pair) error
	// processes names the processes besides the walsender that apply.
	processes func(ctx context.Context, p *harness.Pair) ([]process, error)
	// inspect lists observations after the run: counters, logged problems.
	inspect func(ctx context.Context, p *harness.Pair) ([]string, error)
}

// process is a named process id.
type process struct {
	name string
	pid  int
}

// pgswitchSystem is pgswitch's applier in the standby's daemon. The data
// arrives on the standby through pgswitch init's initial copy; the
// primary's daemon is not started (as in the integration tests). env is
// extra environment for the daemon (configuration of a variant). With a
// profile path, the daemon writes a CPU profile of the backlog there: it
// is stopped (SIGTERM, which writes the profile) once the backlog is
// applied and started again without it.
func pgswitchSystem(name, desc string, env []string, profile string) system {
	startEnv := env
	if profile != "" {
		startEnv = append(append([]string(nil), env...), "PGSWITCHTEST_CPUPROFILE="+profile)
	}
	var afterBacklog func(ctx context.Context, p *harness.Pair) error
	if profile != "" {
		afterBacklog = func(ctx context.Context, p *harness.Pair) error {
			b := p.Nodes[1]
			if err := b.Daemon.Signal(syscall.SIGTERM); err != nil {
				return fmt.Errorf("stopping the daemon for its profile: %w", err)
			}
			if _, err := b.Daemon.Wait(30 * time.Second); err != nil {
				return fmt.Errorf("stopping the daemon for its profile: %w", err)
			}
			progress("%s: CPU profile of the backlog written to %s", name, profile)
			if err := p.StartDaemonEnv(ctx, b, env); err != nil {
				return err
			}
			return p.WaitStreaming(ctx, b, true)
		}
	}
	return system{
		afterBacklog: afterBacklog,
		name:         name,
		desc:         desc,
		slot:         "pgswitch_node_b", // the standby is harness's node-b
		setup: func(ctx context.Context, p *harness.Pair, scale int) error {
			if err := loadPgbench(ctx, p.Nodes[0], scale, false); err != nil {
				return err
			}
			if err := loadPgbench(ctx, p.Nodes[1], scale, true); err != nil {
				return err
			}
			return p.Init(ctx)
		},
		start: func(ctx context.Context, p *harness.Pair) error {
			return p.StartDaemonEnv(ctx, p.Nodes[1], startEnv)
		},
		alive: func(p *harness.Pair) error {
			if d := p.Nodes[1].Daemon; d != nil && !d.Running() {
				return fmt.Errorf("the standby's daemon exited (%v); log %s", d.ExitErr(), d.LogPath)
			}
			return nil
		},
		processes: func(ctx context.Context, p *harness.Pair) ([]process, error) {
			b := p.Nodes[1]
			pid, err := b.Cluster.QueryString(ctx, harness.DB,
				"SELECT pid::text FROM pg_catalog.pg_stat_activity WHERE application_name = 'pgswitch_node_b_apply'")
			if err != nil {
				return nil, fmt.Errorf("looking up pgswitch's apply session: %w", err)
			}
			return []process{{"pgswitch daemon", b.Daemon.Pid()}, {"apply backend", mustAtoi(pid)}}, nil
		},
		inspect: func(ctx context.Context, p *harness.Pair) ([]string, error) {
			b := p.Nodes[1]
			st, err := p.Status(ctx, b)
			if err != nil {
				return nil, fmt.Errorf("status of %s: %w", b.Name, err)
			}
			var notes []string
			if r := st.Replication; r != nil {
				notes = append(notes, fmt.Sprintf("standby state %s, %s source transactions applied (%s changes) in %s local transactions (largest group %d), %d session(s), fault %q",
					st.State, thousands(int(r.AppliedTxns)), thousands(int(r.AppliedChanges)), thousands(int(r.AppliedGroups)), r.LargestGroup, r.Sessions, r.Fault))
			} else {
				notes = append(notes, fmt.Sprintf("standby state %s reports no replication", st.State))
			}
			return append(notes, logProblems(b.Daemon.Log())...), nil
		},
	}
}

// logProblems summarises the warnings and errors in a daemon's JSON log.
func logProblems(log string) []string {
	counts := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			Level   string `json:"level"`
			Message string `json:"message"`
			Error   string `json:"error"`
			Fault   string `json:"fault"`
			Detail  string `json:"detail"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || (e.Level != "warn" && e.Level != "error" && e.Level != "fatal") {
			continue
		}
		msg := e.Level + ": " + e.Message
		for _, extra := range []string{e.Fault, e.Detail, e.Error} {
			if extra != "" {
				msg += ": " + extra
			}
		}
		counts[msg]++
	}
	if len(counts) == 0 {
		return []string{"daemon log: no warnings or errors"}
	}
	var out []string
	for msg, n := range counts {
		out = append(out, fmt.Sprintf("daemon log: %d× %s", n, msg))
	}
	sort.Strings(out)
	return out
}

// Native logical replication: a publication of the pgbench tables and a
// subscription on the standby with its own slot.
const (
	nativePub = "bench_pub"
	nativeSub = "bench_sub"
)

// nativeSystem is PostgreSQL's own logical replication. Both nodes get the
// same data from pgbench -i (it is deterministic), so the subscription
// needs no copy (copy_data = false). Its apply worker keeps PostgreSQL 15's
// default synchronous_commit = off, as pgswitch's applier does.
func nativeSystem() system {
	return system{
		name: "native",
		desc: "native logical replication",
		slot: nativeSub,
		setup: func(ctx context.Context, p *harness.Pair, scale int) error {
			a, b := p.Nodes[0], p.Nodes[1]
			g, gctx := errgroup.WithContext(ctx)
			for _, n := range p.Nodes {
				g.Go(func() error { return loadPgbench(gctx, n, scale, false) })
			}
			if err := g.Wait(); err != nil {
				return err
			}
			if err := a.Cluster.Exec(ctx, harness.DB, fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s",
				nativePub, strings.Join(pgbenchTables, ", "))); err != nil {
				return err
			}
			// The slot is made now; the worker starts only with ENABLE.
			return b.Cluster.Exec(ctx, harness.DB, fmt.Sprintf(
				"CREATE SUBSCRIPTION %s CONNECTION '%s' PUBLICATION %s WITH (copy_data = false, create_slot = true, enabled = false)",
				nativeSub, a.Cluster.DSN(harness.DB), nativePub))
		},
		start: func(ctx context.Context, p *harness.Pair) error {
			return p.Nodes[1].Cluster.Exec(ctx, harness.DB, "ALTER SUBSCRIPTION "+nativeSub+" ENABLE")
		},
		alive: func(*harness.Pair) error { return nil },
		processes: func(ctx context.Context, p *harness.Pair) ([]process, error) {
			pid, err := p.Nodes[1].Cluster.QueryString(ctx, harness.DB,
				"SELECT pid::text FROM pg_catalog.pg_stat_subscription WHERE subname = $1 AND relid IS NULL", nativeSub)
			if err != nil {
				return nil, fmt.Errorf("looking up the apply worker: %w", err)
			}
			return []process{{"apply worker", mustAtoi(pid)}}, nil
		},
		inspect: func(ctx context.Context, p *harness.Pair) ([]string, error) {
			s, err := p.Nodes[1].Cluster.QueryString(ctx, harness.DB, `
				SELECT format('subscription synchronous_commit = %s, apply errors %s',
				              s.subsynccommit, coalesce(st.apply_error_count, 0))
				FROM pg_catalog.pg_subscription s
				LEFT JOIN pg_catalog.pg_stat_subscription_stats st ON st.subid = s.oid
				WHERE s.subname = $1`, nativeSub)
			if err != nil {
				return nil, err
			}
			return []string{s}, nil
		},
	}
}
