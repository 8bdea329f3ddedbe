package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestBinDir(t *testing.T) {
	Need(t)
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"postgres", "pg_ctl", "initdb", "psql", "pgbench"} {
		if _, err := os.Stat(filepath.Join(dir, tool)); err != nil {
			t.Errorf("%s: %v", tool, err)
		}
	}
	t.Setenv("PG_BINDIR", "/nonexistent")
	if _, err := BinDir(); err == nil {
		t.Error("BinDir with a bad PG_BINDIR: no error")
	}
}

// TestTwoClusters creates two clusters at the same time and reaches both over
// TCP and the unix socket.
func TestTwoClusters(t *testing.T) {
	Need(t)
	ctx := testCtx(t)
	// Make the template first, so that the timings below are per cluster.
	began := time.Now()
	if _, err := template(ctx, mustBinDir(t)); err != nil {
		t.Fatal(err)
	}
	t.Logf("initdb template: %v", time.Since(began).Round(time.Millisecond))

	clusters := make([]*Cluster, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	began = time.Now()
	for i := range clusters {
		wg.Go(func() {
			clusters[i], errs[i] = New(ctx, Options{
				Name:     fmt.Sprintf("two %d", i),
				Settings: map[string]string{"work_mem": "7MB"},
			})
		})
	}
	wg.Wait()
	t.Logf("two clusters in parallel: %v", time.Since(began).Round(time.Millisecond))
	for i, c := range clusters {
		if c != nil {
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(c.LogTail(40))
				}
				if err := c.Destroy(); err != nil {
					t.Error(err)
				}
			})
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	if clusters[0].Port == clusters[1].Port || clusters[0].DataDir == clusters[1].DataDir {
		t.Fatalf("clusters share port or directory: %+v %+v", clusters[0], clusters[1])
	}

	for _, c := range clusters {
		for _, dsn := range []string{c.DSN("postgres"), c.SocketDSN("postgres")} {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatalf("%s: %v", dsn, err)
			}
			var walLevel, workMem string
			err = conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel)
			if err == nil {
				err = conn.QueryRow(ctx, "SHOW work_mem").Scan(&workMem)
			}
			conn.Close(ctx)
			if err != nil {
				t.Fatalf("%s: %v", dsn, err)
			}
			if walLevel != "logical" || workMem != "7MB" {
				t.Errorf("%s: wal_level=%s work_mem=%s, want logical and 7MB", dsn, walLevel, workMem)
			}
		}
		if got, err := c.QueryString(ctx, "postgres", "SELECT current_setting('port')"); err != nil || got != fmt.Sprint(c.Port) {
			t.Errorf("port setting %q (%v), want %d", got, err, c.Port)
		}
		if err := c.CreateDatabase(ctx, "app db"); err != nil {
			t.Fatal(err)
		}
		out, err := c.Psql(ctx, "app db", "-Atc", "SELECT current_database() || '/' || 40+2")
		if err != nil || strings.TrimSpace(out) != "app db/42" {
			t.Errorf("psql: %q (%v)", out, err)
		}
		if _, err := c.Psql(ctx, "postgres", "-c", "SELECT no_such_function()"); err == nil {
			t.Error("psql with a failing statement: no error")
		}
	}

	c := clusters[0]
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
	if _, err := os.Stat(c.DataDir); !os.IsNotExist(err) {
		t.Errorf("data directory still there after Destroy: %v", err)
	}
}

// TestStopStartCrash stops and starts a cluster, then crashes it and checks
// that crash recovery keeps committed data.
func TestStopStartCrash(t *testing.T) {
	t.Parallel()
	Need(t)
	c := Start(t, Options{Name: "crash", Parent: reachableTempDir(t)})
	ctx := testCtx(t)
	if !strings.HasPrefix(c.DataDir, filepath.Dir(filepath.Dir(c.DataDir))) {
		t.Fatalf("data directory %s not under the parent", c.DataDir)
	}
	must(t, c.Exec(ctx, "postgres", "CREATE TABLE t (v int)"))
	must(t, c.Exec(ctx, "postgres", "INSERT INTO t VALUES ($1)", 1))

	if err := c.Stop(ctx, "sideways"); err == nil {
		t.Error("Stop with a bad mode: no error")
	}
	must(t, c.Stop(ctx, "fast"))
	if c.Running() {
		t.Fatal("running after Stop")
	}
	if _, err := c.QueryString(ctx, "postgres", "SELECT 1::text"); err == nil {
		t.Fatal("query succeeded on a stopped server")
	}
	must(t, c.StartServer(ctx))
	wantCount(t, c, "1")

	must(t, c.Exec(ctx, "postgres", "INSERT INTO t VALUES (2)"))
	pid, err := c.PostmasterPID()
	must(t, err)
	// A session that stays open across the crash.
	held, err := c.Conn(ctx, "postgres")
	must(t, err)
	defer held.Close(context.Background())
	must(t, c.KillPostmaster())
	if processExists(pid) {
		t.Fatalf("postmaster %d still alive", pid)
	}
	if err := held.Ping(ctx); err == nil {
		t.Error("session survived the crash")
	}
	must(t, c.StartServer(ctx))
	wantCount(t, c, "2")
	if !strings.Contains(c.LogTail(200), "automatic recovery in progress") {
		t.Errorf("no crash recovery in the server log:\n%s", c.LogTail(30))
	}

	must(t, c.Restart(ctx))
	wantCount(t, c, "2")
	must(t, c.Stop(ctx, "immediate"))
	must(t, c.StartServer(ctx))
	wantCount(t, c, "2")
}

// TestNewErrors checks that New fails cleanly: a clear error, nothing left.
func TestNewErrors(t *testing.T) {
	t.Parallel()
	Need(t)
	ctx := testCtx(t)
	if os.Geteuid() == 0 {
		private := t.TempDir() // mode 0700, owned by root
		_, err := New(ctx, Options{Name: "private", Parent: private})
		if err == nil || !strings.Contains(err.Error(), "cannot be entered by the postgres user") {
			t.Errorf("unreachable parent: %v", err)
		}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	parent := reachableTempDir(t)
	port := l.Addr().(*net.TCPAddr).Port
	c, err := New(ctx, Options{Name: "taken", Port: port, Parent: parent})
	if err == nil {
		c.Destroy()
		t.Fatal("New on a taken port: no error")
	}
	if !errors.Is(err, errPortInUse) || !strings.Contains(err.Error(), "server log:") {
		t.Errorf("taken port: %v", err)
	}
	t.Logf("expected error: %v", err)
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Errorf("New left %v behind", left)
	}
}

func TestPgbench(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{Name: "bench"})
	ctx := testCtx(t)
	if out, err := c.Pgbench(ctx, "postgres", "-i", "-s", "1", "-q"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	n, err := c.QueryString(ctx, "postgres", "SELECT count(*)::text FROM pgbench_accounts")
	if err != nil || n != "100000" {
		t.Fatalf("pgbench_accounts: %q (%v), want 100000", n, err)
	}
	out, err := c.Pgbench(ctx, "postgres", "-c", "2", "-t", "20")
	if err != nil || !strings.Contains(out, "number of transactions actually processed: 40") {
		t.Fatalf("pgbench run: %v\n%s", err, out)
	}

	// Cancelling the context stops the tool itself, not just a wrapper.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := c.Psql(short, "postgres", "-c", "SELECT pg_sleep(60)"); err == nil {
		t.Error("psql outlived its context without an error")
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("cancelled psql returned after %v", d)
	}
}

// reachableTempDir is a temporary directory that the postgres user can enter.
func reachableTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "pgtestparent-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	return dir
}

func mustBinDir(t *testing.T) string {
	dir, err := BinDir()
	must(t, err)
	return dir
}

func wantCount(t *testing.T, c *Cluster, want string) {
	t.Helper()
	got, err := c.QueryString(testCtx(t), "postgres", "SELECT count(*)::text FROM t")
	if err != nil || got != want {
		t.Fatalf("count: %q (%v), want %s", got, err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestNetNS runs a cluster and a process inside a network namespace of their
// own: the unix socket reaches the server from here, TCP only from inside.
func TestNetNS(t *testing.T) {
	NeedRoot(t)
	Need(t)
	ctx := testCtx(t)
	ns := fmt.Sprintf("pgtest%d", os.Getpid())
	if _, stderr, code, err := Run(ctx, "", nil, "ip", "netns", "add", ns); err != nil || code != 0 {
		t.Fatalf("ip netns add: %d %v %s", code, err, stderr)
	}
	t.Cleanup(func() { Run(context.Background(), "", nil, "ip", "netns", "delete", ns) })
	if _, stderr, code, err := Run(ctx, ns, nil, "ip", "link", "set", "lo", "up"); err != nil || code != 0 {
		t.Fatalf("lo up: %d %v %s", code, err, stderr)
	}

	c := Start(t, Options{Name: "in ns", NetNS: ns})
	if got, err := c.QueryString(ctx, "postgres", "SHOW wal_level"); err != nil || got != "logical" {
		t.Fatalf("over the socket: %q %v", got, err)
	}
	if conn, err := pgx.Connect(ctx, c.DSN("postgres")); err == nil {
		conn.Close(ctx)
		t.Fatal("reached the namespaced server over TCP from the host namespace")
	}
	psql := []string{filepath.Join(mustBinDir(t), "psql"), "-X", "-Atc", "SELECT 7", c.DSN("postgres")}
	if out, stderr, code, err := Run(ctx, ns, nil, psql...); err != nil || code != 0 || out != "7\n" {
		t.Fatalf("psql over TCP inside the namespace: %q %d %v %s", out, code, err, stderr)
	}
	must(t, c.Restart(ctx))
	if out, _, code, err := Run(ctx, ns, nil, psql...); err != nil || code != 0 || out != "7\n" {
		t.Fatalf("after restart: %q %d %v", out, code, err)
	}

	p := StartProc(t, "ns sleeper", ns, nil, "sleep", "30")
	Eventually(t, 5*time.Second, "sleep to run inside the namespace", func() (bool, error) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid()))
		if err != nil || strings.TrimSpace(string(comm)) != "sleep" {
			return false, fmt.Errorf("comm %q: %v", comm, err)
		}
		theirs, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.Pid()))
		ours, err2 := os.Readlink("/proc/self/ns/net")
		if err1 != nil || err2 != nil || theirs == ours {
			return false, fmt.Errorf("net namespace %q vs ours %q (%v %v)", theirs, ours, err1, err2)
		}
		return true, nil
	})
	must(t, p.Kill9())
	if processExists(p.Pid()) {
		t.Fatal("namespaced sleep survived Kill9")
	}
}
