package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// TestStateFileOfAnotherNodeRefused (issue 8, part 2): node-b given a copy of
// node-a's state directory (node-a recorded ACTIVE) refuses it in every
// command that reads the state: exit 2, naming both nodes and the file; the
// file keeps its bytes and node-b's database stays read-only.
func TestStateFileOfAnotherNodeRefused(t *testing.T) {
	p := newPair(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	must(t, p.Init(ctx))
	a, b := p.Nodes[0], p.Nodes[1]

	foreign, err := os.ReadFile(filepath.Join(a.StateDir, "state.json"))
	must(t, err)
	if !bytes.Contains(foreign, []byte(`"ACTIVE"`)) {
		t.Fatalf("test setup: node-a's record is not ACTIVE:\n%s", foreign)
	}
	path := filepath.Join(b.StateDir, "state.json")
	must(t, os.WriteFile(path, foreign, 0o600))

	for _, c := range []cliCase{
		{name: "daemon", args: []string{"daemon"}},
		{name: "init primary", args: []string{"init", "--role", "primary"}},
		{name: "init standby", args: []string{"init", "--role", "standby"}},
		{name: "promote", args: []string{"promote"}},
		{name: "status", args: []string{"status"}},
		{name: "check", args: []string{"check"}},
	} {
		c.node, c.wantCode = 1, 2
		c.wantOut = []string{a.Name, b.Name, path, "recorded for node " + a.Name}
		runCLI(t, p, c)
		got, err := os.ReadFile(path)
		must(t, err)
		if !bytes.Equal(got, foreign) {
			t.Fatalf("%s rewrote the state file:\n%s", c.name, got)
		}
		if err := b.Cluster.Exec(ctx, harness.DB, "INSERT INTO counters VALUES (999, 0)"); err == nil {
			t.Fatalf("after %s node-b's database is writable", c.name)
		}
	}
}

// TestDaemonStopsWhenStateFileDeleted (issue 8, part 3): deleting the state
// directory of a running daemon makes it stop, non-zero, saying why, rather
// than run on without a record.
func TestDaemonStopsWhenStateFileDeleted(t *testing.T) {
	p := newPair(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	must(t, p.Init(ctx))
	b := p.Nodes[1]
	must(t, p.StartDaemon(ctx, b))
	must(t, os.RemoveAll(b.StateDir))
	code, err := b.Daemon.Wait(30 * time.Second)
	if err != nil {
		t.Fatalf("the daemon of node-b kept running after its state directory was deleted: %v", err)
	}
	if code == 0 {
		t.Errorf("the daemon stopped with exit 0, want non-zero")
	}
	if log := b.Daemon.Log(); !strings.Contains(log, "state file disappeared") || !strings.Contains(log, filepath.Join(b.StateDir, "state.json")) {
		t.Errorf("the daemon's output does not say the state file disappeared:\n%s", tail(log, 2000))
	}
}

// TestDaemonRefusesADatabaseItNeverInitialised (issue 8, part 3): node-b's
// daemon pointed at another cluster than the one its record names names the
// fault wrong_database (expected and found identifier, the DSN's host) and
// takes nothing there: no replication origin; init on that database reports
// the mismatch too.
func TestDaemonRefusesADatabaseItNeverInitialised(t *testing.T) {
	p := newPair(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	must(t, p.Init(ctx))
	b := p.Nodes[1]
	rec, err := os.ReadFile(filepath.Join(b.StateDir, "state.json"))
	must(t, err)
	if !bytes.Contains(rec, []byte(`"local_system_id"`)) || !bytes.Contains(rec, []byte(`"peer_system_id"`)) {
		t.Fatalf("init did not record the system identifiers:\n%s", rec)
	}
	// A cluster of its own initdb (the other test clusters are copies of
	// one template and share a system identifier), as if node-b's had
	// been replaced.
	fresh, err := pgtest.New(ctx, pgtest.Options{Name: "fresh", Parent: p.Dir, OwnSystemID: true})
	must(t, err)
	t.Cleanup(func() { _ = fresh.Destroy() })
	var m map[string]any
	must(t, json.Unmarshal(rec, &m))
	recorded, _ := m["local_system_id"].(string)
	freshID, err := fresh.QueryString(ctx, "postgres", "SELECT system_identifier::text FROM pg_catalog.pg_control_system()")
	must(t, err)
	if freshID == recorded {
		t.Fatalf("the fresh cluster has the recorded system identifier %s", recorded)
	}
	must(t, fresh.CreateDatabase(ctx, harness.DB))
	freshDSN := fmt.Sprintf("host=%s port=%d user=postgres dbname=%s", fresh.SocketDir, fresh.Port, harness.DB)
	env := []string{"PGSWITCH_POSTGRES_DSN=" + freshDSN}

	must(t, p.StartDaemonEnv(ctx, b, env))
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	must(t, pgtest.WaitFor(wctx, "wrong_database fault on node-b", func() (bool, error) {
		st, err := p.Status(wctx, b)
		if err != nil {
			return false, err
		}
		for _, f := range st.Faults {
			if f.Reason == "wrong_database" {
				t.Logf("fault: %s", f.Detail)
				return strings.Contains(f.Detail, "system identifier") && strings.Contains(f.Detail, fresh.SocketDir), nil
			}
		}
		return false, fmt.Errorf("faults %+v", st.Faults)
	}))
	origins, err := fresh.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM pg_catalog.pg_replication_origin")
	must(t, err)
	if origins != "0" {
		t.Errorf("the daemon took %s replication origin(s) on the fresh cluster", origins)
	}
	must(t, b.Daemon.Signal(syscall.SIGTERM))
	if _, err := b.Daemon.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	runCLI(t, p, cliCase{name: "init standby on the fresh cluster", node: 1, args: []string{"init", "--role", "standby"},
		env: env, wantCode: 1, wantOut: []string{"system identifier", fresh.SocketDir}})
	runCLI(t, p, cliCase{name: "check on the fresh cluster", node: 1, args: []string{"check"},
		env: env, wantCode: 1, wantOut: []string{"has system identifier " + freshID, "initialised on " + recorded, fresh.SocketDir}})
}

// The peer's database replaced by another cluster on the same address and
// port (a new initdb where the active was): the standby's applier checks the
// system identifier on its reconnection and stops with the fault
// wrong_database naming the peer, before it reads or takes anything there;
// check refuses the peer too.
func TestStandbyRefusesAReplacedPeerDatabase(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	must(t, p.WaitStreaming(ctx, b, false))

	must(t, a.Daemon.Kill9())
	port := a.Cluster.Port
	must(t, a.Cluster.Stop(ctx, "fast"))
	fresh, err := pgtest.New(ctx, pgtest.Options{Name: "fresh-a", Parent: p.Dir, Port: port, OwnSystemID: true})
	must(t, err)
	t.Cleanup(func() { _ = fresh.Destroy() })
	must(t, fresh.CreateDatabase(ctx, harness.DB))
	must(t, fresh.Exec(ctx, harness.DB, counterSchema+counterSeed))

	waitFault(t, ctx, p, b, "wrong_database", "the peer database at 127.0.0.1")
	slots, err := fresh.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM pg_catalog.pg_replication_slots")
	must(t, err)
	if slots != "0" {
		t.Errorf("node-b took %s slot(s) on the replaced peer database", slots)
	}
	st, err := p.Status(ctx, b)
	must(t, err)
	if st.State == "ACTIVE" {
		t.Errorf("node-b became ACTIVE after its peer's database was replaced")
	}
	runCLI(t, p, cliCase{name: "check with the replaced peer", node: 1, args: []string{"check"},
		wantCode: 1, wantOut: []string{"peer database", "has system identifier"}})
}
