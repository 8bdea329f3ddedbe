package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// HAProxy (the Debian package) in front of both nodes with option httpchk
// GET /primary: a client connecting through HAProxy writes before a
// switchover and, after it, writes land on the new active.
func TestHAProxyFollowsPrimary(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy is not installed (.ci/install-deps installs it)")
		}
		t.Skip("haproxy is not installed (CI=true makes this a failure)")
	}
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitRole(t, p, b, "STANDBY", true)

	port, err := pgtest.FreePort()
	must(t, err)
	cfg := fmt.Sprintf(`global
    maxconn 100
defaults
    mode tcp
    timeout connect 2s
    timeout client 1m
    timeout server 1m
    timeout check 1s
listen postgres_primary
    bind 127.0.0.1:%d
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions
    server node-a 127.0.0.1:%d check port %d
    server node-b 127.0.0.1:%d check port %d
`, port, a.Cluster.Port, a.APIPort, b.Cluster.Port, b.APIPort)
	cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
	must(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	pgtest.StartProc(t, "haproxy", "", nil, haproxy, "-db", "-f", cfgPath)

	write := func() (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(cctx, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=app sslmode=disable", port))
		if err != nil {
			return "", err
		}
		defer conn.Close(context.Background())
		var where string
		err = conn.QueryRow(cctx, "INSERT INTO events (counter) VALUES (1) RETURNING current_setting('port')").Scan(&where)
		return where, err
	}
	wantPort := func(n *harness.Node) {
		t.Helper()
		pgtest.Eventually(t, 20*time.Second, "a write through HAProxy to land on "+n.Name, func() (bool, error) {
			where, err := write()
			return err == nil && where == fmt.Sprint(n.Cluster.Port), err
		})
	}
	wantPort(a)
	out, errOut, code, err := p.Run(ctx, a, "promote")
	must(t, err)
	if code != 0 {
		t.Fatalf("promote: exit %d\n%s%s", code, out, errOut)
	}
	wantPort(b)
	must(t, p.WaitCaughtUp(ctx, b, a))
	must(t, p.SameData(ctx, "events"))
}

// SIGTERM stops the daemon cleanly: exit 0, the applier's final feedback
// sent (the slot on the active confirms what the standby applied), the
// state and the database's role untouched. SIGHUP reloads thresholds and
// the log level.
func TestSignals(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	must(t, counterLoad(ctx, t, a, 2, 300))
	must(t, p.WaitCaughtUp(ctx, a, b))

	// SIGHUP: a new threshold and log level, from the file.
	must(t, p.WriteConfig(b, []string{"switchover:", "  max_lag_bytes: 12345", "log:", "  level: warn"}))
	cfg, err := os.ReadFile(b.ConfigPath)
	must(t, err)
	// WriteConfig appended a second log section: keep the last one only.
	must(t, os.WriteFile(b.ConfigPath, []byte(strings.Replace(string(cfg), "log:\n  level: debug\n", "", 1)), 0o600))
	must(t, b.Daemon.Signal(syscall.SIGHUP))
	pgtest.Eventually(t, 10*time.Second, "the reload to be logged", func() (bool, error) {
		return strings.Contains(b.Daemon.Log(), `"max_lag_bytes":12345`), nil
	})

	// SIGTERM on the standby.
	st, err := p.Status(ctx, b)
	must(t, err)
	t.Logf("before SIGTERM: %+v", st.Replication)
	must(t, b.Daemon.Signal(syscall.SIGTERM))
	code, err := b.Daemon.Wait(15 * time.Second)
	must(t, err)
	if code != 0 {
		t.Fatalf("the daemon exited %d on SIGTERM, want 0", code)
	}
	applied, err := replicationLSN(st.Replication.ReplayedLSN)
	must(t, err)
	confirmed, err := a.Cluster.QueryString(ctx, harness.DB, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'pgswitch_node_b'")
	must(t, err)
	c, err := replicationLSN(confirmed)
	must(t, err)
	if c < applied {
		t.Errorf("after SIGTERM the slot confirms %s, less than the %s the standby had applied (no final feedback)", confirmed, st.Replication.ReplayedLSN)
	}
	stateFile, err := os.ReadFile(filepath.Join(b.StateDir, "state.json"))
	must(t, err)
	if !strings.Contains(string(stateFile), `"state": "STANDBY"`) {
		t.Errorf("SIGTERM changed the state: %s", stateFile)
	}
	mode, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT pgswitch.client_mode()")
	must(t, err)
	if mode != "read-only" {
		t.Errorf("SIGTERM changed the standby's database to %s", mode)
	}
	// SIGTERM on the active leaves it writable.
	must(t, a.Daemon.Signal(syscall.SIGTERM))
	code, err = a.Daemon.Wait(15 * time.Second)
	must(t, err)
	mode, err = a.Cluster.QueryString(ctx, harness.DB, "SELECT pgswitch.client_mode()")
	must(t, err)
	if code != 0 || mode != "writable" {
		t.Errorf("SIGTERM on the active: exit %d, database %s; want 0 and writable", code, mode)
	}
}
