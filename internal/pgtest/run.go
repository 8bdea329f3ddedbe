package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Run runs argv to completion, inside `ip netns exec netns` when netns is not
// empty, with env appended to os.Environ(). A non-zero exit status is
// reported in code, not as an error; err is set when the command could not
// be started or did not exit by itself (ctx ended, killed by a signal: code
// is then -1). Without a deadline in ctx the command may run 5 minutes.
func Run(ctx context.Context, netns string, env []string, argv ...string) (stdout, stderr string, code int, err error) {
	if len(argv) == 0 {
		return "", "", -1, errors.New("run: empty command")
	}
	ctx, cancel := withTimeout(ctx, 5*time.Minute)
	defer cancel()
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	var outBuf, errBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	cmd.WaitDelay = waitDelay
	err = cmd.Run()
	stdout, stderr = outBuf.String(), errBuf.String()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return stdout, stderr, 0, nil
	case ctx.Err() != nil:
		return stdout, stderr, -1, fmt.Errorf("running %s: %w", strings.Join(argv, " "), ctx.Err())
	case errors.As(err, &exitErr) && exitErr.Exited():
		return stdout, stderr, exitErr.ExitCode(), nil
	}
	return stdout, stderr, -1, fmt.Errorf("running %s: %w", strings.Join(argv, " "), err)
}

var (
	portMu    sync.Mutex
	usedPorts = map[int]bool{}
)

// FreePort returns a TCP port that nothing listens on, from 20000–31999
// (below the kernel's ephemeral range, so outgoing connections do not take
// it). A port is handed out at most once per process.
func FreePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 500 {
		port := 20000 + rand.IntN(12000)
		if usedPorts[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		l.Close()
		usedPorts[port] = true
		return port, nil
	}
	return 0, errors.New("no free TCP port found in 20000-31999")
}

// Eventually polls cond (every 20ms, growing to 200ms) until it returns true
// or timeout passes; then it fails the test with t.Fatalf naming what and the
// last error cond returned. Call it from the test's goroutine.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := WaitFor(ctx, what, cond); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// WaitFor is Eventually for callers without a testing.TB: it polls cond
// until it returns true (nil) or ctx ends (an error naming what and cond's
// last error).
func WaitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	began := time.Now()
	interval := 20 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		timer.Reset(interval)
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v waiting for %s (last error: %v)",
				time.Since(began).Round(time.Millisecond), what, last)
		case <-timer.C:
		}
		interval = min(interval*3/2, 200*time.Millisecond)
	}
}

var built = map[string]string{} // package -> binary, guarded by binMu

// BuildPgswitch builds ./cmd/pgswitch once per process and returns the
// binary's path; it fails the test if the build fails.
func BuildPgswitch(t testing.TB) string {
	t.Helper()
	path, err := BuildPgswitchE()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return path
}

// BuildPgswitchE is BuildPgswitch for callers without a testing.TB.
func BuildPgswitchE() (string, error) { return BuildBinary("./cmd/pgswitch") }

// BuildBinary builds the main package pkg (a path relative to the module
// root, like "./cmd/pgswitch") once per process into a temporary directory
// (removed by Cleanup) and returns the binary's path. A failed build is
// tried again by the next call.
func BuildBinary(pkg string) (string, error) {
	binMu.Lock()
	defer binMu.Unlock()
	if path, ok := built[pkg]; ok {
		return path, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("building %s: %w", pkg, err)
	}
	if binDir == "" {
		dir, err := makeDir(os.TempDir(), "bin")
		if err != nil {
			return "", fmt.Errorf("building %s: %w", pkg, err)
		}
		binDir = dir
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	out := filepath.Join(binDir, filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.WaitDelay = waitDelay
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", pkg, err, strings.TrimSpace(string(msg)))
	}
	built[pkg] = out
	return out, nil
}

// ModuleRoot finds the directory holding go.mod by walking up from the
// working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above")
		}
		dir = parent
	}
}
