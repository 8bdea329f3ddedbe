package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// pg_auto_failover's pair for the comparison, as Debian ships it
// (postgresql-15-auto-failover 2.0): a monitor and two nodes on loopback
// ports, each pg_autoctl run as the postgres user with its defaults — among
// them replication-quorum true, so the standby is synchronous. Like
// patroni.go, configuration of the peer only.

type pgafNode struct {
	name string
	dir  string // HOME and XDG directories of its pg_autoctl
	port int
	proc *pgtest.Proc
}

func (n *pgafNode) data() string { return filepath.Join(n.dir, "data") }

type pgafPair struct {
	bin     string // PostgreSQL's
	monitor *pgafNode
	nodes   [2]*pgafNode
	lost    *pgafNode
}

// newPgaf creates the monitor and both nodes in dir (made here) and the
// writers' schema. On error nothing is left running.
func newPgaf(ctx context.Context, dir string) (_ *pgafPair, err error) {
	if _, err := exec.LookPath("pg_autoctl"); err != nil {
		return nil, fmt.Errorf("%w (install postgresql-15-auto-failover)", err)
	}
	bin, err := pgtest.BinDir()
	if err != nil {
		return nil, err
	}
	if err := pgtest.MkdirPG(dir); err != nil {
		return nil, err
	}
	pa := &pgafPair{bin: bin}
	defer func() {
		if err != nil {
			pa.Close()
		}
	}()
	mk := func(name string) (*pgafNode, error) {
		n := &pgafNode{name: name, dir: filepath.Join(dir, name)}
		var err error
		if n.port, err = pgtest.FreePort(); err != nil {
			return nil, err
		}
		return n, pgtest.MkdirPG(n.dir)
	}
	if pa.monitor, err = mk("monitor"); err != nil {
		return nil, err
	}
	for i := range pa.nodes {
		if pa.nodes[i], err = mk(fmt.Sprintf("pgaf%d", i+1)); err != nil {
			return nil, err
		}
	}
	progress("peers: pg_auto_failover: creating the monitor and two nodes")
	m := pa.monitor
	cctx, cancel := context.WithTimeout(ctx, peerWait)
	defer cancel()
	if out, errOut, code, err := pgtest.Run(cctx, "", nil, pa.argv(m, "create", "monitor", "--pgdata", m.data(),
		"--pgport", fmt.Sprint(m.port), "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl")...); err != nil || code != 0 {
		return nil, fmt.Errorf("pg_autoctl create monitor: exit %d %v\n%s%s", code, err, out, errOut)
	}
	if err := pa.start(m, "run", "--pgdata", m.data()); err != nil {
		return nil, err
	}
	for i, n := range pa.nodes {
		if err := pa.start(n, "create", "postgres", "--pgdata", n.data(), "--pgport", fmt.Sprint(n.port),
			"--hostname", "127.0.0.1", "--name", n.name, "--dbname", "app", "--auth", "trust", "--no-ssl",
			"--pg-hba-lan", "--monitor", pa.monitorURI("autoctl_node"), "--run"); err != nil {
			return nil, err
		}
		// The first node registers alone and becomes the primary.
		want := "single"
		if i == 1 {
			want = "secondary"
		}
		if err := pgtest.WaitFor(cctx, n.name+" in state "+want, func() (bool, error) {
			st, err := pa.states(cctx)
			return err == nil && st[n.name] == want+"/"+want, err
		}); err != nil {
			return nil, err
		}
		if i == 0 {
			// pg_basebackup asks for a spread checkpoint, which paces
			// its writes: with the new cluster's dirty buffers, 90 s.
			if err := pa.checkpoint(cctx, n); err != nil {
				return nil, err
			}
		}
	}
	if err := pa.ready(cctx); err != nil {
		return nil, err
	}
	conn, err := connectPrimary(cctx, pa.hosts("postgres", "app"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(cctx, switchSchema); err != nil {
		return nil, fmt.Errorf("creating the schema on pg_auto_failover's primary: %w", err)
	}
	return pa, nil
}

// argv runs pg_autoctl as the postgres user with n's directory for its
// configuration and state.
func (pa *pgafPair) argv(n *pgafNode, args ...string) []string {
	return append([]string{"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
		"env", "HOME=" + n.dir, "XDG_CONFIG_HOME=" + filepath.Join(n.dir, "config"),
		"XDG_DATA_HOME=" + filepath.Join(n.dir, "share"), "PATH=" + pa.bin + ":/usr/bin:/bin",
		"pg_autoctl"}, args...)
}

// checkpoint runs CHECKPOINT on n.
func (pa *pgafPair) checkpoint(ctx context.Context, n *pgafNode) error {
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=app sslmode=disable connect_timeout=2", n.port))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", n.name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint on %s: %w", n.name, err)
	}
	return nil
}

func (pa *pgafPair) start(n *pgafNode, args ...string) error {
	p, err := pgtest.StartProcE("pg_autoctl-"+n.name, "", n.dir, nil, pa.argv(n, args...)...)
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

func (pa *pgafPair) monitorURI(user string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/pg_auto_failover?sslmode=disable", user, pa.monitor.port)
}

func (pa *pgafPair) hosts(user, db string) string {
	a, b := pa.nodes[0], pa.nodes[1]
	return fmt.Sprintf("host=127.0.0.1,127.0.0.1 port=%d,%d user=%s dbname=%s sslmode=disable target_session_attrs=read-write",
		a.port, b.port, user, db)
}

// states are the nodes' "reported/goal" states on the monitor.
func (pa *pgafPair) states(ctx context.Context) (map[string]string, error) {
	cfg, err := pgx.ParseConfig(pa.monitorURI("postgres"))
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the monitor: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT nodename, reportedstate::text || '/' || goalstate::text FROM pgautofailover.node")
	if err != nil {
		return nil, fmt.Errorf("reading the monitor's node states: %w", err)
	}
	st := map[string]string{}
	var name, state string
	_, err = pgx.ForEachRow(rows, []any{&name, &state}, func() error {
		st[name] = state
		return nil
	})
	return st, err
}

// roles are the primary and the secondary as the monitor settled them.
func (pa *pgafPair) roles(ctx context.Context) (primary, secondary *pgafNode, err error) {
	st, err := pa.states(ctx)
	if err != nil {
		return nil, nil, err
	}
	for i, n := range pa.nodes {
		if st[n.name] == "primary/primary" && st[pa.nodes[1-i].name] == "secondary/secondary" {
			return n, pa.nodes[1-i], nil
		}
	}
	return nil, nil, fmt.Errorf("no settled primary and secondary: %v", st)
}

func (pa *pgafPair) ready(ctx context.Context) error {
	return pgtest.WaitFor(ctx, "pg_auto_failover's primary and a streaming, caught-up secondary", func() (bool, error) {
		if _, _, err := pa.roles(ctx); err != nil {
			return false, err
		}
		return streamedAll(ctx, pa.hosts("postgres", "postgres"))
	})
}

func (pa *pgafPair) switchover(ctx context.Context) (time.Duration, string, error) {
	primary, secondary, err := pa.roles(ctx)
	if err != nil {
		return 0, "", err
	}
	cctx, cancel := context.WithTimeout(ctx, peerWait)
	defer cancel()
	start := time.Now()
	out, errOut, code, err := pgtest.Run(cctx, "", nil, pa.argv(primary, "perform", "switchover", "--pgdata", primary.data())...)
	took := time.Since(start)
	if err != nil || code != 0 {
		return took, "", fmt.Errorf("pg_autoctl perform switchover: exit %d %v\n%s%s", code, err, out, errOut)
	}
	return took, fmt.Sprintf("pg_autoctl perform switchover, %s → %s", primary.name, secondary.name), nil
}

// crash kills the primary's pg_autoctl and every process below it
// (PostgreSQL and its backends) at once.
func (pa *pgafPair) crash(ctx context.Context) (time.Time, error) {
	primary, _, err := pa.roles(ctx)
	if err != nil {
		return time.Time{}, err
	}
	at, err := pgtest.KillTrees(10*time.Second, primary.proc.Pid())
	if err != nil {
		return at, err
	}
	if err := primary.proc.Kill9(); err != nil { // reaps it
		return at, err
	}
	pa.lost = primary
	return at, nil
}

// rejoin runs the lost node's pg_autoctl again: the monitor has it demoted,
// and it rewinds and follows.
func (pa *pgafPair) rejoin(context.Context) (map[int64]bool, error) {
	if pa.lost == nil {
		return nil, nil
	}
	n := pa.lost
	pa.lost = nil
	return nil, pa.start(n, "run", "--pgdata", n.data())
}

func (pa *pgafPair) peer() peer {
	return peer{
		name: "pg_auto_failover defaults",
		setup: "pg_auto_failover 2.0 (its defaults: a synchronous standby, replication-quorum true), a monitor and two nodes on loopback; " +
			"host loss = SIGKILL of the node's pg_autoctl, PostgreSQL and its backends",
		targets:    []target{{name: "multi-host DSN", dsn: pa.hosts("app", "app")}},
		ready:      pa.ready,
		switchover: pa.switchover,
		crash:      pa.crash,
		rejoin:     pa.rejoin,
		ids:        func(ctx context.Context) (map[int64]bool, error) { return primaryIDs(ctx, pa.hosts("postgres", "app")) },
		tells:      "no: pg_rewind discards them on rejoin",
	}
}

// Close stops the nodes' and the monitor's pg_autoctl (each stops its
// PostgreSQL) and kills whatever is left.
func (pa *pgafPair) Close() {
	var errs []error
	for _, n := range []*pgafNode{pa.nodes[0], pa.nodes[1], pa.monitor} {
		if n == nil || n.proc == nil {
			continue
		}
		if n.proc.Running() {
			if err := n.proc.Signal(syscall.SIGTERM); err == nil {
				_, _ = n.proc.Wait(30 * time.Second)
			}
			errs = append(errs, n.proc.Kill9())
		}
		if pm, err := postmasterPID(n.data()); err == nil && isPostmasterOf(pm, n.data()) {
			_, err := pgtest.KillTrees(10*time.Second, pm)
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		progress("peers: pg_auto_failover: cleaning up: %v", strings.TrimSpace(err.Error()))
	}
}
