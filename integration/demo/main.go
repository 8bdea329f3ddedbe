// Command demo is `make demo`: two local PostgreSQL clusters, two pgswitch
// daemons, a write load that finds the writable node the way libpq clients
// do (target_session_attrs=read-write over both hosts), a switchover and a
// switchover back, then a summary: writes acknowledged, writes lost, the
// longest pause in writing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

const schema = `
CREATE TABLE ledger (
    id     bigint PRIMARY KEY DEFAULT nextval('ledger_id'),
    writer int NOT NULL,
    amount numeric(12,2) NOT NULL,
    at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
`

func main() {
	writers := flag.Int("writers", 4, "concurrent writing clients")
	warm := flag.Duration("between", 3*time.Second, "load before, between and after the switchovers")
	keep := flag.Bool("keep", false, "keep the clusters and logs (in a directory printed at the end)")
	seed := flag.Int("seed-rows", 300000, "rows in the ledger before the standby's init (its initial copy)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *writers, *seed, *warm, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, writers, seedRows int, between time.Duration, keep bool) (err error) {
	if _, err := pgtest.BinDir(); err != nil {
		return fmt.Errorf("%w (make demo installs PostgreSQL with .ci/install-deps)", err)
	}
	dir, err := os.MkdirTemp("", "pgswitch-demo-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	defer pgtest.Cleanup()
	step("building pgswitch and two PostgreSQL clusters in %s", dir)
	p, err := harness.New(ctx, harness.Options{Dir: dir, Schema: "CREATE SEQUENCE ledger_id;" + schema})
	if err != nil {
		return err
	}
	defer func() {
		if keep {
			fmt.Printf("\nkept: %s (configs, state, logs); the clusters are stopped\n", dir)
			for _, n := range p.Nodes {
				if n.Daemon != nil {
					_ = n.Daemon.Kill9()
				}
				_ = n.Cluster.Stop(context.Background(), "fast")
			}
			return
		}
		p.Close()
		os.RemoveAll(dir)
	}()
	a, b := p.Nodes[0], p.Nodes[1]
	fmt.Printf("   %s: PostgreSQL on port %d, API %s\n   %s: PostgreSQL on port %d, API %s\n",
		a.Name, a.Cluster.Port, a.APIURL(), b.Name, b.Cluster.Port, b.APIURL())

	// The standby's init copies what the primary holds: give it enough to
	// watch the copy and its progress at work.
	step("seeding %s: %d rows in ledger (the standby's initial copy)", a.Name, seedRows)
	if err := a.Cluster.Exec(ctx, harness.DB, `INSERT INTO ledger (writer, amount)
		SELECT 0, round((random() * 10000)::numeric, 2) FROM generate_series(1, $1)`, seedRows); err != nil {
		return fmt.Errorf("seeding the ledger: %w", err)
	}

	step("pgswitch init --role primary on %s, --role standby on %s", a.Name, b.Name)
	for i, role := range []string{"primary", "standby"} {
		out, errOut, code, err := p.Run(ctx, p.Nodes[i], "init", "--role", role)
		fmt.Print(indent(out))
		if err != nil || code != 0 {
			return fmt.Errorf("init --role %s: exit %d %v\n%s", role, code, err, errOut)
		}
	}
	step("starting both daemons")
	for _, n := range p.Nodes {
		if err := p.StartDaemon(ctx, n); err != nil {
			return err
		}
	}
	if err := p.WaitStreaming(ctx, b, false); err != nil {
		return err
	}

	dsn := fmt.Sprintf("host=%s,%s port=%d,%d user=postgres dbname=%s target_session_attrs=read-write connect_timeout=2",
		a.Addr, b.Addr, a.Cluster.Port, b.Cluster.Port, harness.DB)
	step("write load: %d clients, each connecting with %q", writers, dsn)
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	load := startLoad(lctx, dsn, writers)

	var switches []string
	for i, issuer := range []*harness.Node{a, a} {
		sleep(ctx, between)
		step("pgswitch promote (run on %s), switchover %d of 2", issuer.Name, i+1)
		start := time.Now()
		out, errOut, code, err := p.Run(ctx, issuer, "promote")
		fmt.Print(indent(out + errOut))
		if err != nil || code != 0 {
			return fmt.Errorf("promote: exit %d %v", code, err)
		}
		switches = append(switches, lastLine(out)+fmt.Sprintf(" (command took %s)", time.Since(start).Round(time.Millisecond)))
		if err := p.WaitStreaming(ctx, p.Other(activeOf(ctx, p)), false); err != nil {
			return err
		}
	}
	sleep(ctx, between)
	stopLoad()
	acks, failures := load.Wait()

	step("checking: every acknowledged write on both nodes")
	active := activeOf(ctx, p)
	if err := p.WaitCaughtUp(ctx, active, p.Other(active)); err != nil {
		return err
	}
	lost := map[string]int{}
	for _, n := range p.Nodes {
		have, err := harness.IDs(ctx, n, "SELECT id FROM ledger")
		if err != nil {
			return err
		}
		lost[n.Name] = harness.Missing(acks, have)
	}
	if err := p.SameData(ctx, "ledger"); err != nil {
		return err
	}
	pause, at := harness.LongestPause(acks)
	out, _, _, _ := p.Run(ctx, a, "status")
	step("pgswitch status")
	fmt.Print(indent(out))

	fmt.Printf("\n%s\n", strings.Repeat("─", 72))
	fmt.Printf("summary\n")
	fmt.Printf("  writes acknowledged        %d (by %d clients, %d attempts failed during the switchovers)\n", len(acks), writers, failures)
	fmt.Printf("  writes lost                %d on %s, %d on %s\n", lost[a.Name], a.Name, lost[b.Name], b.Name)
	fmt.Printf("  longest write pause        %s (at %s)\n", pause.Round(time.Millisecond), at.Format("15:04:05.000"))
	for i, s := range switches {
		fmt.Printf("  switchover %d               %s\n", i+1, s)
	}
	fmt.Printf("  tables identical           yes (content hash of ledger on both nodes)\n")
	fmt.Printf("%s\n", strings.Repeat("─", 72))
	if lost[a.Name]+lost[b.Name] > 0 {
		return errors.New("acknowledged writes were lost")
	}
	return nil
}

func step(format string, args ...any) {
	fmt.Printf("\n==> %s\n", fmt.Sprintf(format, args...))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "   " + strings.ReplaceAll(s, "\n", "\n   ") + "\n"
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
