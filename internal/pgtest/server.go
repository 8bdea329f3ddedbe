package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errPortInUse marks a start that failed because the TCP port was taken.
var errPortInUse = errors.New("port already in use")

// StartServer starts the server again after Stop or KillPostmaster, with
// pg_ctl start -w, inside the cluster's network namespace if it has one. A
// crashed server runs crash recovery before it accepts connections. The error
// includes what the server logged during this start.
func (c *Cluster) StartServer(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, 90*time.Second)
	defer cancel()
	var offset int64
	if fi, err := os.Stat(c.logPath); err == nil {
		offset = fi.Size()
	}
	_, err := runPG(ctx, c.netns, filepath.Join(c.bin, "pg_ctl"), "start", "-D", c.DataDir,
		"-l", c.logPath, "-w", "-t", "60", "-s")
	if err == nil {
		c.crashed.Store(false)
		return nil
	}
	logged := c.logSince(offset)
	if strings.Contains(logged, "Address already in use") {
		err = fmt.Errorf("%w: %w", errPortInUse, err)
	}
	return fmt.Errorf("starting cluster %s on port %d: %w\nserver log:\n%s", c.Name, c.Port, err, tail(logged, 30))
}

// Stop stops the server with pg_ctl stop -m mode (fast, immediate or smart)
// and waits until it is down. Immediate is a crash as far as the data
// directory is concerned: the next start runs recovery.
func (c *Cluster) Stop(ctx context.Context, mode string) error {
	switch mode {
	case "fast", "immediate", "smart":
	default:
		return fmt.Errorf("stopping cluster %s: unknown mode %q (want fast, immediate or smart)", c.Name, mode)
	}
	ctx, cancel := withTimeout(ctx, 90*time.Second)
	defer cancel()
	if _, err := runPG(ctx, "", filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.DataDir,
		"-m", mode, "-w", "-t", "60", "-s"); err != nil {
		return fmt.Errorf("stopping cluster %s (%s): %w\nserver log:\n%s", c.Name, mode, err, c.LogTail(20))
	}
	return nil
}

// Restart stops the server (fast) and starts it again.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.Stop(ctx, "fast"); err != nil {
		return err
	}
	return c.StartServer(ctx)
}

// PostmasterPID returns the pid in postmaster.pid, or an error when the
// server is not running.
func (c *Cluster) PostmasterPID() (int, error) {
	pid, err := readPostmasterPID(c.DataDir)
	if err != nil {
		return 0, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	if !processExists(pid) {
		return 0, fmt.Errorf("cluster %s: postmaster %d is not running", c.Name, pid)
	}
	return pid, nil
}

// Running reports whether the postmaster is alive.
func (c *Cluster) Running() bool {
	_, err := c.PostmasterPID()
	return err == nil
}

// KillPostmaster crashes the server: SIGKILL to the postmaster. It returns
// once the postmaster is gone and its backends have exited; backends that
// have not noticed the postmaster's death within 5 seconds are killed too,
// so that StartServer can run crash recovery right away.
func (c *Cluster) KillPostmaster() error {
	pid, err := c.PostmasterPID()
	if err != nil {
		return fmt.Errorf("killing postmaster: %w", err)
	}
	children := childPIDs(pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing postmaster %d of cluster %s: %w", pid, c.Name, err)
	}
	if !waitGone([]int{pid}, 10*time.Second) {
		return fmt.Errorf("postmaster %d of cluster %s survived SIGKILL", pid, c.Name)
	}
	if !waitGone(children, 5*time.Second) {
		for _, p := range children {
			syscall.Kill(p, syscall.SIGKILL)
		}
		if !waitGone(children, 10*time.Second) {
			return fmt.Errorf("backends of cluster %s survived SIGKILL", c.Name)
		}
	}
	c.removeLockFiles(pid)
	c.crashed.Store(true)
	return nil
}

// removeLockFiles removes the lock files of the dead postmaster pid. The
// server would ignore them itself once pid no longer exists, but the dead
// postmaster may linger as a zombie until init reaps it (seconds in some
// containers), and the server takes a zombie for a live postmaster.
func (c *Cluster) removeLockFiles(pid int) {
	for _, f := range []string{
		filepath.Join(c.DataDir, "postmaster.pid"),
		filepath.Join(c.SocketDir, fmt.Sprintf(".s.PGSQL.%d.lock", c.Port)),
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(b), "\n")
		if strings.TrimSpace(first) == strconv.Itoa(pid) {
			os.Remove(f)
		}
	}
}

// Destroy stops the server immediately if it runs and removes the cluster's
// directory. It is idempotent: later calls return nil.
func (c *Cluster) Destroy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return nil
	}
	c.destroyed = true
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c.crashed.Load() && !c.Running() {
		// Only a server start removes the shared memory (System V and
		// /dev/shm) that a killed postmaster leaves behind.
		c.StartServer(ctx)
	}
	if c.Running() {
		err := c.Stop(ctx, "immediate")
		if err != nil && c.Running() {
			if kerr := c.KillPostmaster(); kerr != nil {
				errs = append(errs, err, kerr)
			}
		}
	}
	if err := os.RemoveAll(c.root); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroying cluster %s: %w", c.Name, err)
	}
	return nil
}

// LogTail returns the last n lines of the server log.
func (c *Cluster) LogTail(n int) string {
	return tail(c.logSince(0), n)
}

// LogPath is the server log file (written by pg_ctl -l).
func (c *Cluster) LogPath() string { return c.logPath }

// logSince returns the server log from byte offset on.
func (c *Cluster) logSince(offset int64) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	if offset > int64(len(b)) {
		offset = 0
	}
	return string(b[offset:])
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runCmd runs argv as this process's user and returns its combined output.
func runCmd(ctx context.Context, argv ...string) (string, error) {
	ctx, cancel := withTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = waitDelay
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
