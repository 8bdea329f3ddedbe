package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProc(t *testing.T) {
	p := StartProc(t, "sleeper", "", nil, "sleep", "30")
	if !p.Running() || p.Pid() <= 0 {
		t.Fatalf("sleep not running (pid %d)", p.Pid())
	}
	if _, err := p.Wait(50 * time.Millisecond); err == nil {
		t.Error("Wait on a running process: no timeout error")
	}
	must(t, p.Kill9())
	if p.Running() || processExists(p.Pid()) {
		t.Fatal("sleep survived Kill9")
	}
	if sig, ok := p.ExitSignal(); !ok || sig != syscall.SIGKILL {
		t.Errorf("exit signal %v %v, want SIGKILL", sig, ok)
	}
	must(t, p.Kill9()) // already dead: fine
	if err := p.Signal(syscall.SIGTERM); err == nil {
		t.Error("Signal to an exited process: no error")
	}

	q := StartProc(t, "talker", "", []string{"PGTEST_WORD=hello"}, "sh", "-c", `echo "$PGTEST_WORD"; echo oops >&2; exit 3`)
	code, err := q.Wait(10 * time.Second)
	if err != nil || code != 3 {
		t.Fatalf("exit code %d (%v), want 3", code, err)
	}
	if log := q.Log(); log != "hello\noops\n" {
		t.Errorf("log %q", log)
	}

	r := StartProc(t, "term", "", nil, "sleep", "30")
	must(t, r.Signal(syscall.SIGTERM))
	if code, err := r.Wait(10 * time.Second); err != nil || code != -1 {
		t.Errorf("after SIGTERM: code %d (%v), want -1", code, err)
	}
}

func TestRun(t *testing.T) {
	ctx := testCtx(t)
	out, errOut, code, err := Run(ctx, "", []string{"X=7"}, "sh", "-c", `echo out$X; echo err >&2; exit 7`)
	if err != nil || out != "out7\n" || errOut != "err\n" || code != 7 {
		t.Errorf("got %q %q %d %v", out, errOut, code, err)
	}
	if _, _, code, err := Run(ctx, "", nil, "true"); err != nil || code != 0 {
		t.Errorf("true: %d %v", code, err)
	}
	if _, _, _, err := Run(ctx, "", nil, "/nonexistent/binary"); err == nil {
		t.Error("missing binary: no error")
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, _, code, err := Run(short, "", nil, "sleep", "10"); err == nil || code != -1 {
		t.Errorf("timeout: %d %v", code, err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p, err := FreePort()
		must(t, err)
		if seen[p] || p < 20000 || p >= 32000 {
			t.Fatalf("port %d repeated or out of range", p)
		}
		seen[p] = true
	}
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 5*time.Second, "the counter", func() (bool, error) {
		n++
		return n == 3, fmt.Errorf("n is %d", n)
	})
	if n != 3 {
		t.Fatalf("cond called %d times", n)
	}

	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(ft, 150*time.Millisecond, "the impossible", func() (bool, error) {
			return false, fmt.Errorf("still no")
		})
	}()
	<-done
	if !strings.Contains(ft.msg, "the impossible") || !strings.Contains(ft.msg, "still no") {
		t.Errorf("Fatalf message %q", ft.msg)
	}
}

// fatalTB records Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestSweepStale checks that directories of dead processes are removed and
// those of live ones are kept.
func TestSweepStale(t *testing.T) {
	p := StartProc(t, "short", "", nil, "true")
	if _, err := p.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	dead := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-sweep-test", dirPrefix, p.Pid()))
	live := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-sweep-test", dirPrefix, os.Getppid()))
	for _, dir := range []string{dead, live} {
		must(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
		t.Cleanup(func() { os.RemoveAll(dir) })
		must(t, os.Chtimes(dir, old, old))
	}
	sweepStale()
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("directory of dead pid %d not removed: %v", p.Pid(), err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("directory of live pid %d removed: %v", os.Getppid(), err)
	}
}

func TestBuildBinary(t *testing.T) {
	path, err := BuildBinary("./internal/pgtest/testdata/hello")
	must(t, err)
	again, err := BuildBinary("./internal/pgtest/testdata/hello")
	if err != nil || again != path {
		t.Errorf("second build: %q %v, want cached %q", again, err, path)
	}
	out, _, code, err := Run(testCtx(t), "", nil, path)
	if err != nil || code != 0 || out != "hello from pgtest\n" {
		t.Errorf("built binary: %q %d %v", out, code, err)
	}
}
