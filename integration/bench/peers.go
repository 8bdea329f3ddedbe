package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// The comparison with the field (make bench's "peers" part, issue 12): the
// same writer, one client inserting a row every 5 ms, against pgswitch's
// pair and Patroni's on this machine in the same run, across planned
// switchovers and the loss of the primary's host, several runs of each.

const (
	peerRate = 200 // writes a second in all: one every 5 ms
	// peerWait bounds how long writes may take to resume after a
	// switchover or a host loss, and a pair to become ready again.
	peerWait = 2 * time.Minute
)

// A peer is one failover manager's running pair as the comparison drives
// it; what differs between the systems is only these functions.
type peer struct {
	name    string   // the column: "Patroni defaults"
	setup   string   // how the pair runs, for the notes
	targets []target // the ways its clients reach the primary
	// ready waits until the pair has a primary and a standby that streams
	// and has caught up.
	ready func(ctx context.Context) error
	// switchover runs the planned switchover's command and returns how
	// long the command took and what it did.
	switchover func(ctx context.Context) (time.Duration, string, error)
	// crash loses the primary's host — every process of the node killed
	// with SIGKILL, its link cut where it runs in a namespace — and
	// returns the moment of the loss. nil: the system has no unplanned
	// failover to measure.
	crash func(ctx context.Context) (time.Time, error)
	// rejoin brings the lost node back after a crash (it may still be
	// catching up when rejoin returns; ready waits for it) and returns the
	// ids of the writes it reported to the operator as lost (nil: the
	// system has no such report).
	rejoin func(ctx context.Context) (map[int64]bool, error)
	// ids are the writes table's ids on the current primary.
	ids func(ctx context.Context) (map[int64]bool, error)
	// tells is whether the system tells the operator which acknowledged
	// writes a failover lost, when rejoin reports nothing.
	tells string
}

// peerRun is one switchover or host loss under the writer.
type peerRun struct {
	target string
	// pause: for a switchover the longest time between two acknowledged
	// writes from just before the command on; for a host loss the loss
	// to the first acknowledged write.
	pause       time.Duration
	took        time.Duration // the switchover command
	acked, lost int
	reported    int // lost acknowledged writes the system listed (-1: no report)
	note        string
}

// peerResult is every run of one peer.
type peerResult struct {
	name, setup, tells string
	switchovers        []peerRun
	crashes            []peerRun
	noCrash            bool // crash is nil
}

// measurePeer times runs switchovers through each of pr's targets, then
// runs host losses through its first.
func measurePeer(ctx context.Context, pr peer, runs int) (peerResult, error) {
	res := peerResult{name: pr.name, setup: pr.setup, tells: pr.tells, noCrash: pr.crash == nil}
	for _, t := range pr.targets {
		for i := range runs {
			progress("peers: %s: switchover %d of %d, writing through the %s", pr.name, i+1, runs, t.name)
			r, err := peerOnce(ctx, pr, t, false)
			if err != nil {
				return res, fmt.Errorf("%s: switchover %d through the %s: %w", pr.name, i+1, t.name, err)
			}
			progress("peers: %s: write pause %v, command took %v", pr.name, r.pause.Round(time.Millisecond), r.took.Round(time.Millisecond))
			res.switchovers = append(res.switchovers, r)
		}
	}
	if pr.crash == nil {
		return res, nil
	}
	t := pr.targets[0]
	for i := range runs {
		progress("peers: %s: host loss %d of %d, writing through the %s", pr.name, i+1, runs, t.name)
		r, err := peerOnce(ctx, pr, t, true)
		if err != nil {
			return res, fmt.Errorf("%s: host loss %d: %w", pr.name, i+1, err)
		}
		progress("peers: %s: loss → first acknowledged write %v, %d acknowledged writes lost", pr.name, r.pause.Round(time.Millisecond), r.lost)
		res.crashes = append(res.crashes, r)
	}
	return res, nil
}

// peerOnce runs the writer through t for a second, then the switchover
// (or the host loss), until the writer has written for another second
// after it, and measures the pause and the acknowledged writes the
// primary lacks afterwards.
func peerOnce(ctx context.Context, pr peer, t target, crash bool) (peerRun, error) {
	r := peerRun{target: t.name}
	rctx, cancel := context.WithTimeout(ctx, peerWait)
	defer cancel()
	if err := pr.ready(rctx); err != nil {
		return r, fmt.Errorf("waiting for the pair to be ready: %w", err)
	}
	wctx, stop := context.WithCancel(ctx)
	w := startWriters(wctx, t, 1, peerRate)
	defer func() {
		stop()
		w.Wait()
	}()
	if err := waitWriting(rctx, time.Now().Add(time.Second), w); err != nil {
		return r, fmt.Errorf("writing before: %w%s", err, lastFailure(w))
	}

	var from, to time.Time // the event
	var err error
	if crash {
		from, err = pr.crash(ctx)
		to = from
	} else {
		from = time.Now()
		r.took, r.note, err = pr.switchover(ctx)
		to = time.Now()
	}
	if err != nil {
		return r, err
	}
	ectx, cancel := context.WithTimeout(ctx, peerWait)
	defer cancel()
	if err := waitWriting(ectx, to, w); err != nil {
		return r, fmt.Errorf("writes did not resume: %w%s", err, lastFailure(w))
	}
	if err := waitWriting(ectx, time.Now().Add(time.Second), w); err != nil {
		return r, fmt.Errorf("writing after: %w%s", err, lastFailure(w))
	}
	stop()
	acks, _ := w.Wait()
	if crash {
		first, ok := firstAckAfter(acks, from)
		if !ok {
			return r, errors.New("no write acknowledged after the loss")
		}
		r.pause = first.Sub(from)
	} else {
		r.pause, _ = harness.LongestGap(acks, from.Add(-500*time.Millisecond), time.Time{})
	}
	have, err := pr.ids(ectx)
	if err != nil {
		return r, fmt.Errorf("reading the ids on the primary: %w", err)
	}
	r.acked, r.lost = len(acks), harness.Missing(acks, have)
	r.reported = -1
	if crash {
		listed, err := pr.rejoin(ectx)
		if err != nil {
			return r, fmt.Errorf("bringing the lost node back: %w", err)
		}
		if listed != nil {
			r.reported = 0
			for _, a := range acks {
				if !have[a.ID] && listed[a.ID] {
					r.reported++
				}
			}
		}
	}
	return r, nil
}

// lastFailure describes the writer's most recent failed attempt.
func lastFailure(w *harness.Writers) string {
	f := w.FailuresBetween(time.Time{}, time.Now())
	if len(f) == 0 {
		return ""
	}
	return fmt.Sprintf(" (the writer's last failure, at %s: %s)", f[len(f)-1].At.Format("15:04:05.000"), f[len(f)-1].Err)
}

// peersReport is the comparison's table.
type peersReport struct {
	runs    int
	results []peerResult
	took    time.Duration
	skipped string
}

// peerSystems are the systems the comparison can measure, in the order of
// its columns.
var peerSystems = []string{"pgswitch", "patroni", "pg_auto_failover"}

// runPeers builds each system's pair in turn, alone on the machine, and
// measures it.
func runPeers(ctx context.Context, work string, runs int, systems []string) (peersReport, error) {
	rep := peersReport{runs: runs}
	if os.Geteuid() != 0 {
		rep.skipped = "needs root (network namespaces for pgswitch's VIP; PostgreSQL and the peers run as the postgres user)"
		return rep, nil
	}
	start := time.Now()
	for _, sys := range peerSystems {
		if !slices.Contains(systems, sys) {
			continue
		}
		var res []peerResult
		var err error
		switch sys {
		case "pgswitch":
			res, err = measurePgswitchPeer(ctx, filepath.Join(work, "peers-pgswitch"), runs)
		case "patroni":
			res, err = measurePatroni(ctx, filepath.Join(work, "peers-patroni"), runs)
		case "pg_auto_failover":
			res, err = measurePgaf(ctx, filepath.Join(work, "peers-pgaf"), runs)
		}
		if err != nil {
			return rep, err
		}
		rep.results = append(rep.results, res...)
	}
	rep.took = time.Since(start)
	return rep, nil
}

// measurePatroni measures Patroni's pair with its defaults, then tuned.
func measurePatroni(ctx context.Context, dir string, runs int) ([]peerResult, error) {
	pat, err := newPatroni(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("setting up Patroni: %w", err)
	}
	defer pat.Close()
	var out []peerResult
	for _, dcs := range []patroniDCS{patroniDefaults, patroniTuned} {
		if err := pat.configure(ctx, dcs); err != nil {
			return nil, fmt.Errorf("configuring %s: %w", dcs.name, err)
		}
		res, err := measurePeer(ctx, pat.peer(dcs), runs)
		if err != nil {
			return nil, fmt.Errorf("Patroni: %w", err)
		}
		out = append(out, res)
	}
	return out, nil
}

// measurePgaf measures pg_auto_failover's pair with its defaults.
func measurePgaf(ctx context.Context, dir string, runs int) ([]peerResult, error) {
	pa, err := newPgaf(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("setting up pg_auto_failover: %w", err)
	}
	defer pa.Close()
	res, err := measurePeer(ctx, pa.peer(), runs)
	if err != nil {
		return nil, fmt.Errorf("pg_auto_failover: %w", err)
	}
	return []peerResult{res}, nil
}

// measurePgswitchPeer measures pgswitch's pair in namespaces with its
// defaults and a quorum (an etcd member on a host of its own).
func measurePgswitchPeer(ctx context.Context, dir string, runs int) ([]peerResult, error) {
	v, err := newVIPPair(ctx, dir, true)
	if err != nil {
		return nil, fmt.Errorf("pgswitch: %w", err)
	}
	defer v.Close()
	if err := v.start(ctx); err != nil {
		return nil, fmt.Errorf("pgswitch: %w", err)
	}
	res, err := measurePeer(ctx, pgswitchPeer(v), runs)
	return []peerResult{res}, err
}

// pgswitchPeer is pgswitch's pair as a peer.
func pgswitchPeer(v *vipPair) peer {
	var lost *harness.Node // the active whose host was lost
	return peer{
		name: "pgswitch defaults",
		setup: "pgswitch: two hosts in network namespaces on a bridge with the VIP, etcd on a third, the writer in a fourth; " +
			"switchover: pgswitch promote on the active; host loss = SIGKILL of the active's daemon, postmaster and backends, then its link cut",
		targets: []target{v.viaVIP(), v.viaHosts()},
		ready: func(ctx context.Context) error {
			active, standby := v.active(ctx)
			if err := v.p.WaitStreaming(ctx, standby, true); err != nil {
				return err
			}
			return v.p.WaitCaughtUp(ctx, active, standby)
		},
		switchover: func(ctx context.Context) (time.Duration, string, error) {
			steps, took, err := v.promote(ctx)
			return took, steps, err
		},
		crash: func(ctx context.Context) (time.Time, error) {
			active, _ := v.active(ctx)
			pm, err := active.Cluster.PostmasterPID()
			if err != nil {
				return time.Time{}, err
			}
			at, err := pgtest.KillTrees(10*time.Second, active.Daemon.Pid(), pm)
			if err != nil {
				return at, err
			}
			if err := active.Daemon.Kill9(); err != nil { // reaps it
				return at, err
			}
			lost = active
			return at, v.top.Cut(host(v, active))
		},
		rejoin: func(ctx context.Context) (map[int64]bool, error) {
			n := lost
			lost = nil
			listed, err := pgswitchComesBack(ctx, v, n)
			if err != nil {
				return nil, err
			}
			// pgswitch rejoin is not built: an old active with lost
			// transactions stays SELF_FENCED. A fresh pair on the same
			// network (the same VIP and addresses) for the next run.
			v.p.Close()
			if err := v.build(ctx); err != nil {
				return nil, err
			}
			return listed, v.start(ctx)
		},
		ids: func(ctx context.Context) (map[int64]bool, error) {
			active, _ := v.active(ctx)
			return harness.IDs(ctx, active, "SELECT id FROM writes")
		},
		tells: "—",
	}
}

// host is the name of n's host in v's topology.
func host(v *vipPair, n *harness.Node) string {
	if n == v.p.Nodes[0] {
		return "a"
	}
	return "b"
}

// pgswitchComesBack heals the lost host's link, starts its database and
// daemon again, waits for its verdict — STANDBY when nothing was lost, else
// a lost-transaction report — and returns the ids of the writes the report
// lists.
func pgswitchComesBack(ctx context.Context, v *vipPair, n *harness.Node) (map[int64]bool, error) {
	if err := v.top.Heal(host(v, n)); err != nil {
		return nil, err
	}
	if err := n.Cluster.StartServer(ctx); err != nil {
		return nil, err
	}
	if err := v.p.StartDaemon(ctx, n); err != nil {
		return nil, err
	}
	var st api.Status
	if err := pgtest.WaitFor(ctx, n.Name+" back as STANDBY or with a lost-transaction report", func() (bool, error) {
		var err error
		st, err = v.p.Status(ctx, n)
		return err == nil && (st.State == "STANDBY" || st.Divergence != nil), err
	}); err != nil {
		return nil, err
	}
	listed := map[int64]bool{}
	if st.Divergence == nil {
		return listed, nil
	}
	data, err := os.ReadFile(st.Divergence.Report)
	if err != nil {
		return nil, fmt.Errorf("reading the lost-transaction report: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var tx struct {
			Changes []struct {
				Op    string             `json:"op"`
				Table string             `json:"table"`
				New   map[string]*string `json:"new"`
			} `json:"changes"`
		}
		if err := json.Unmarshal([]byte(line), &tx); err != nil {
			return nil, fmt.Errorf("reading the lost-transaction report %s: %w", st.Divergence.Report, err)
		}
		for _, c := range tx.Changes {
			if c.Op == "INSERT" && c.Table == "public.writes" && c.New["id"] != nil {
				if id, err := strconv.ParseInt(*c.New["id"], 10, 64); err == nil {
					listed[id] = true
				}
			}
		}
	}
	return listed, nil
}

func (r peersReport) print(w io.Writer) {
	fmt.Fprintln(w)
	if r.skipped != "" {
		fmt.Fprintf(w, "comparison with the peers skipped: %s\n", r.skipped)
		return
	}
	fmt.Fprintf(w, "side by side (%d runs each, median / max; one writer inserting a row every 5 ms):\n\n", r.runs)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	head := []string{"figure"}
	for _, res := range r.results {
		head = append(head, res.name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	row := func(figure string, cell func(peerResult) string) {
		cells := []string{figure}
		for _, res := range r.results {
			cells = append(cells, cell(res))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	for _, via := range []string{"multi-host DSN", "VIP"} {
		row("switchover: write pause, "+via, func(res peerResult) string {
			return spread(res.switchovers, via, func(r peerRun) time.Duration { return r.pause })
		})
	}
	row("switchover: the command took", func(res peerResult) string {
		return spread(res.switchovers, "", func(r peerRun) time.Duration { return r.took })
	})
	row("host lost: loss → first acknowledged write", func(res peerResult) string {
		if res.noCrash {
			return "not implemented¹"
		}
		return spread(res.crashes, "", func(r peerRun) time.Duration { return r.pause })
	})
	row("acknowledged writes lost, switchovers", func(res peerResult) string { return lostCell(res.switchovers) })
	row("acknowledged writes lost, host losses", func(res peerResult) string {
		if res.noCrash {
			return "—"
		}
		return lostCell(res.crashes)
	})
	row("told the operator which", func(res peerResult) string { return toldCell(res) })
	tw.Flush()
	if slices.ContainsFunc(r.results, func(res peerResult) bool { return res.noCrash }) {
		fmt.Fprintln(w, "\n¹ no unplanned failover in this column.")
	}
	fmt.Fprintln(w, "write pause: the longest gap between two acknowledged writes from 0.5 s before the command until a second after writes resumed;")
	fmt.Fprintln(w, "  host lost: SIGKILL of every process of the primary's node at once, then the time until the first write is acknowledged (by the new primary).")
	fmt.Fprintln(w, "the writer: one client, reconnecting 10 ms after any error, 300 ms connect timeout per host; lost = acknowledged ids missing on the primary afterwards.")
	for _, res := range r.results {
		fmt.Fprintf(w, "%s: %s\n", res.name, res.setup)
		for i, run := range append(slices.Clone(res.switchovers), res.crashes...) {
			kind, fig := "switchover", fmt.Sprintf("pause %v, command %v", run.pause.Round(time.Millisecond), run.took.Round(time.Millisecond))
			if i >= len(res.switchovers) {
				kind, fig = "host loss", fmt.Sprintf("loss → first write %v", run.pause.Round(time.Millisecond))
			}
			fig += fmt.Sprintf(", %d of %d acknowledged writes lost", run.lost, run.acked)
			if run.reported >= 0 {
				fig += fmt.Sprintf(" (%d of them listed in the lost-transaction report)", run.reported)
			}
			fmt.Fprintf(w, "  %s via %s: %s; %s\n", kind, run.target, fig, run.note)
		}
	}
	fmt.Fprintf(w, "the comparison took %v\n", r.took.Round(time.Second))
}

// spread is "median / max" of f over the runs through via ("": all); "—"
// without runs.
func spread(runs []peerRun, via string, f func(peerRun) time.Duration) string {
	var ds []time.Duration
	for _, r := range runs {
		if via == "" || r.target == via {
			ds = append(ds, f(r))
		}
	}
	if len(ds) == 0 {
		return "—"
	}
	slices.Sort(ds)
	return fmt.Sprintf("%s / %s s", secs(ds[len(ds)/2]), secs(ds[len(ds)-1]))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// toldCell says whether the system reported what its host losses lost.
func toldCell(res peerResult) string {
	lost, reported := 0, 0
	for _, r := range res.crashes {
		if r.reported < 0 {
			return res.tells
		}
		lost += r.lost
		reported += r.reported
	}
	if len(res.crashes) == 0 {
		return res.tells
	}
	return fmt.Sprintf("yes: %d of %d listed in lost-<epoch>.jsonl", reported, lost)
}

// lostCell is "lost of acknowledged" over the runs, with each run's count
// when any was lost.
func lostCell(runs []peerRun) string {
	lost, acked := 0, 0
	var each []string
	for _, r := range runs {
		lost += r.lost
		acked += r.acked
		each = append(each, fmt.Sprint(r.lost))
	}
	if len(runs) == 0 {
		return "—"
	}
	s := fmt.Sprintf("%d of %s", lost, thousands(acked))
	if lost > 0 {
		s += " (runs: " + strings.Join(each, ", ") + ")"
	}
	return s
}

// connectPrimary connects through a multi-host DSN with
// target_session_attrs=read-write: to a peer's primary.
func connectPrimary(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the primary: %w", err)
	}
	return conn, nil
}

// streamedAll reports whether the primary at dsn has exactly one
// streaming standby that has replayed all of its WAL.
func streamedAll(ctx context.Context, dsn string) (bool, error) {
	conn, err := connectPrimary(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var caughtUp bool
	err = conn.QueryRow(ctx, `SELECT count(*) = 1 AND coalesce(bool_and(replay_lsn >= pg_current_wal_lsn()), false)
		FROM pg_catalog.pg_stat_replication WHERE state = 'streaming'`).Scan(&caughtUp)
	return caughtUp, err
}

// primaryIDs are the writes table's ids on the primary at dsn.
func primaryIDs(ctx context.Context, dsn string) (map[int64]bool, error) {
	conn, err := connectPrimary(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT id FROM writes")
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	have := make(map[int64]bool, len(ids))
	for _, id := range ids {
		have[id] = true
	}
	return have, nil
}
