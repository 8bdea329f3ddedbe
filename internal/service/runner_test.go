package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// logBuffer collects JSON log lines; it is safe for concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records decodes the log lines.
func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func newRunner(timeout time.Duration) (*Runner, *logBuffer) {
	buf := &logBuffer{}
	return &Runner{Timeout: timeout, Log: zerolog.New(buf)}, buf
}

// runError runs argv and returns its *Error, failing the test if there is
// none.
func runError(t *testing.T, r *Runner, ctx context.Context, argv ...string) *Error {
	t.Helper()
	err := r.Run(ctx, "check", argv)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Run(%q) = %v (%T), want an *Error", argv, err, err)
	}
	return e
}

func TestRunEmptyArgv(t *testing.T) {
	r, logs := newRunner(time.Second)
	for _, argv := range [][]string{nil, {}} {
		if err := r.Run(context.Background(), "start", argv); err != nil {
			t.Errorf("Run(%q) = %v, want nil", argv, err)
		}
	}
	if recs := logs.records(t); len(recs) != 0 {
		t.Errorf("an empty argv logged %v", recs)
	}
}

func TestRunLogsOutput(t *testing.T) {
	r, logs := newRunner(5 * time.Second)
	err := r.Run(context.Background(), "start", []string{"/bin/sh", "-c", "echo out one; echo err one >&2; printf 'no newline'"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := map[string]string{} // line → stream
	for _, rec := range logs.records(t) {
		if rec["action"] != "start" || rec["cmd"] != "/bin/sh" {
			t.Errorf("record %v lacks action=start cmd=/bin/sh", rec)
		}
		if line, ok := rec["line"].(string); ok {
			got[line], _ = rec["stream"].(string)
		}
	}
	want := map[string]string{"out one": "stdout", "err one": "stderr", "no newline": "stdout"}
	for line, stream := range want {
		if got[line] != stream {
			t.Errorf("line %q logged on %q, want %q (all: %v)", line, got[line], stream, got)
		}
	}
}

func TestRunNonZeroExit(t *testing.T) {
	r, _ := newRunner(5 * time.Second)
	e := runError(t, r, context.Background(), "/bin/sh", "-c", "echo hi; echo broken >&2; exit 3")
	if e.ExitCode != 3 || e.TimedOut {
		t.Errorf("ExitCode %d TimedOut %v, want 3 and false", e.ExitCode, e.TimedOut)
	}
	if !strings.Contains(e.Output, "hi\n") || !strings.Contains(e.Output, "broken\n") {
		t.Errorf("Output %q lacks the command's lines", e.Output)
	}
	if msg := e.Error(); !strings.Contains(msg, "status 3") || !strings.Contains(msg, `/bin/sh -c "echo hi;`) {
		t.Errorf("message %q does not name the command and its status", msg)
	}
	var exit *exec.ExitError
	if !errors.As(e, &exit) {
		t.Errorf("error %v does not wrap the *exec.ExitError", e)
	}
	if !slices.Equal(e.Argv, []string{"/bin/sh", "-c", "echo hi; echo broken >&2; exit 3"}) {
		t.Errorf("Argv = %q", e.Argv)
	}
}

func TestRunCannotStart(t *testing.T) {
	r, _ := newRunner(time.Second)
	cases := []struct {
		argv []string
		is   error
	}{
		{[]string{"/nonexistent/program"}, fs.ErrNotExist},
		{[]string{"pgswitch-no-such-program"}, exec.ErrNotFound},
		{[]string{t.TempDir()}, nil}, // a directory
	}
	for _, tc := range cases {
		e := runError(t, r, context.Background(), tc.argv...)
		if e.ExitCode != -1 || e.TimedOut {
			t.Errorf("%q: ExitCode %d TimedOut %v, want -1 and false", tc.argv, e.ExitCode, e.TimedOut)
		}
		if tc.is != nil && !errors.Is(e, tc.is) {
			t.Errorf("%q: error %v is not %v", tc.argv, e, tc.is)
		}
	}
}

// TestRunTimeout: a command past its timeout is killed and Run returns at
// once, with TimedOut.
func TestRunTimeout(t *testing.T) {
	r, _ := newRunner(100 * time.Millisecond)
	start := time.Now()
	e := runError(t, r, context.Background(), "sleep", "5")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s to time out after 100ms", took)
	}
	if !e.TimedOut || e.ExitCode != -1 {
		t.Errorf("TimedOut %v ExitCode %d, want true and -1", e.TimedOut, e.ExitCode)
	}
	if !errors.Is(e, context.DeadlineExceeded) {
		t.Errorf("error %v is not context.DeadlineExceeded", e)
	}
	if !strings.Contains(e.Error(), "killed") {
		t.Errorf("message %q does not say the command was killed", e.Error())
	}
	assertNoChildren(t)
}

// TestRunTimeoutKillsGroup: the timeout kills the whole process group,
// grandchildren included.
func TestRunTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r, _ := newRunner(200 * time.Millisecond)
	start := time.Now()
	e := runError(t, r, context.Background(), "/bin/sh", "-c", "sleep 30 & echo $! > "+pidFile+"; wait")
	if !e.TimedOut {
		t.Fatalf("got %v, want a timeout", e)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("took %s to time out", took)
	}
	assertGone(t, readPid(t, pidFile))
}

// TestRunBackgroundProcess: a command that exits 0 leaving a process in the
// background that holds its output (a daemon started without redirecting
// it) succeeds at once, and the process is left running.
func TestRunBackgroundProcess(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r, logs := newRunner(10 * time.Second)
	start := time.Now()
	err := r.Run(context.Background(), "start", []string{"/bin/sh", "-c", "sleep 30 & echo $! > " + pidFile + "; echo started"})
	pid := readPid(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s: Run waited for the background process", took)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("the background process %d is gone: %v", pid, err)
	}
	logged := false
	for _, rec := range logs.records(t) {
		logged = logged || rec["line"] == "started"
	}
	if !logged {
		t.Error("the command's output was not logged")
	}
}

// TestRunContextCanceled: cancelling ctx kills the command like a timeout,
// but it is not reported as one.
func TestRunContextCanceled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r, _ := newRunner(10 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	e := runError(t, r, ctx, "/bin/sh", "-c", "sleep 30 & echo $! > "+pidFile+"; wait")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s after the cancel", took)
	}
	if e.TimedOut || !errors.Is(e, context.Canceled) {
		t.Errorf("TimedOut %v, error %v: want a cancel, not a timeout", e.TimedOut, e)
	}
	assertGone(t, readPid(t, pidFile))
}

// TestRunOutputCapped: Error.Output keeps the last 4 KiB, ending with the
// last line. (All of it on stdout: lines of stdout and stderr arrive through
// two pipes, in no fixed order relative to each other.)
func TestRunOutputCapped(t *testing.T) {
	r := &Runner{Timeout: 10 * time.Second, Log: zerolog.Nop()}
	e := runError(t, r, context.Background(), "/bin/sh", "-c",
		`i=0; while [ $i -lt 3000 ]; do echo "line $i of the output"; i=$((i+1)); done; echo the end; exit 1`)
	if len(e.Output) > 4096 || len(e.Output) < 4000 {
		t.Errorf("Output holds %d bytes, want the last 4 KiB", len(e.Output))
	}
	if !strings.HasSuffix(e.Output, "the end\n") {
		t.Errorf("Output ends %q, want the last line", e.Output[max(0, len(e.Output)-40):])
	}
	if !strings.HasSuffix(e.Error(), ": the end") {
		t.Errorf("message %q does not end with the last line", e.Error())
	}
}

// TestRunLongLine: a line longer than 4 KiB is logged in pieces.
func TestRunLongLine(t *testing.T) {
	r, logs := newRunner(10 * time.Second)
	if err := r.Run(context.Background(), "check", []string{"/bin/sh", "-c", "head -c 10000 /dev/zero | tr '\\0' x"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	total := 0
	for _, rec := range logs.records(t) {
		if line, ok := rec["line"].(string); ok {
			if len(line) > 4096 {
				t.Errorf("a logged line holds %d bytes", len(line))
			}
			total += len(line)
		}
	}
	if total != 10000 {
		t.Errorf("%d bytes logged, want 10000", total)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	r, _ := newRunner(5 * time.Second)
	e := runError(t, r, context.Background(), "/bin/sh", "-c", "kill -TERM $$")
	if e.ExitCode != -1 || e.TimedOut {
		t.Errorf("ExitCode %d TimedOut %v, want -1 and false", e.ExitCode, e.TimedOut)
	}
	if !strings.Contains(e.Error(), "terminated") {
		t.Errorf("message %q does not name the signal", e.Error())
	}
}

func TestRunDefaultTimeout(t *testing.T) {
	r := &Runner{Log: zerolog.Nop()} // Timeout 0: DefaultTimeout, not "no time at all"
	if err := r.Run(context.Background(), "check", []string{"true"}); err != nil {
		t.Errorf("Run(true) with no Timeout: %v", err)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return pid
}

// assertGone waits a little for process pid to be gone (or a zombie, where
// nothing reaps orphans).
func assertGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	// pid (comm) state ...: comm may hold spaces, the state follows ") ".
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X')
}

// assertNoChildren checks that the test process has no child process left.
func assertNoChildren(t *testing.T) {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := strconv.Itoa(os.Getpid())
	for _, path := range stats {
		stat, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(stat, ')')
		if f := strings.Fields(string(stat[i+1:])); i >= 0 && len(f) > 1 && f[1] == me {
			t.Errorf("child process left behind: %s", stat[:i+1])
		}
	}
}
