package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a long-running process (a pgswitch daemon, a workload) whose
// stdout and stderr go to LogPath. A goroutine owned by the Proc waits for
// the process; it ends when the process exits.
type Proc struct {
	Name    string
	LogPath string
	Cmd     *exec.Cmd

	done    chan struct{} // closed once the process has been reaped
	waitErr error         // from Cmd.Wait; read only after done is closed
}

// StartProc starts argv for the test, inside `ip netns exec netns` when netns
// is not empty, with env appended to os.Environ(). The log goes to a file in
// a directory of the test. A cleanup kills the process (SIGKILL) if it still
// runs and, when the test has failed, logs the last 80 lines of its log.
func StartProc(t testing.TB, name, netns string, env []string, argv ...string) *Proc {
	t.Helper()
	p, err := StartProcE(name, netns, t.TempDir(), env, argv...)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Kill9(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
		if t.Failed() {
			t.Logf("pgtest: last lines of the log of %s (%s):\n%s", p.Name, strings.Join(argv, " "), tail(p.Log(), 80))
		}
	})
	return p
}

// StartProcE is StartProc for callers without a testing.TB: the log file is
// created in logDir, and the caller must Kill9 or Wait for the process.
func StartProcE(name, netns, logDir string, env []string, argv ...string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("starting process %s: empty command", name)
	}
	if netns != "" {
		// ip netns exec execs the command, so the pid stays the target's.
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	logFile, err := os.CreateTemp(logDir, sanitize(name)+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("starting process %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting process %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	p := &Proc{Name: name, LogPath: logFile.Name(), Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id (of the target itself, also inside a namespace).
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process; it is an error once the process exited.
func (p *Proc) Signal(sig os.Signal) error {
	if !p.Running() {
		return fmt.Errorf("signalling %s: process %d already exited", p.Name, p.Pid())
	}
	if err := p.Cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signalling %s: %w", p.Name, err)
	}
	return nil
}

// Kill9 sends SIGKILL and waits until the process has been reaped. Killing
// a process that already exited is not an error.
func (p *Proc) Kill9() error {
	if !p.Running() {
		return nil
	}
	if err := p.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing %s: %w", p.Name, err)
	}
	if _, err := p.Wait(30 * time.Second); err != nil {
		return fmt.Errorf("killing %s: %w", p.Name, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns its exit
// code: -1 when a signal ended it. Only the timeout is an error.
func (p *Proc) Wait(timeout time.Duration) (exitCode int, err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode(), nil
	case <-timer.C:
		return 0, fmt.Errorf("process %s (pid %d) still running after %v", p.Name, p.Pid(), timeout)
	}
}

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ExitErr is the error from waiting for the process (nil for exit code 0);
// it is nil while the process runs.
func (p *Proc) ExitErr() error {
	select {
	case <-p.done:
		return p.waitErr
	default:
		return nil
	}
}

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Log returns everything the process has written so far.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// ExitSignal reports the signal that ended the process, if one did.
func (p *Proc) ExitSignal() (syscall.Signal, bool) {
	if p.Running() {
		return 0, false
	}
	ws, ok := p.Cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}
