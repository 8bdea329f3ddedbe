package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
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
