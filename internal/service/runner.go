package service

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// DefaultTimeout bounds a command when Runner.Timeout is not set.
const DefaultTimeout = 10 * time.Second

// pipeGrace is how long Run keeps reading output after the command exited,
// while a process it started in the background still holds the output open.
const pipeGrace = 500 * time.Millisecond

// Runner runs the commands of the operator's service program.
type Runner struct {
	Timeout time.Duration  // for each command; DefaultTimeout if not positive
	Log     zerolog.Logger // receives the commands' output, line by line
}

// Run executes argv: argv[0] is the program (looked up in PATH when it has
// no slash), run without a shell, with no input, in its own process group.
// An empty argv succeeds at once. what ("start", "stop" or "check") is
// logged as the field "action".
//
// Every line the command writes is logged (fields "cmd" = argv[0],
// "stream" = stdout or stderr, "line"), and the last 4 KiB are kept for the
// error. When ctx ends or r.Timeout passes, the whole process group is
// killed, so nothing the command started outlives it. A process the command
// leaves running in the background after exiting successfully is left alone
// (a start command may start a daemon); Run stops reading its output after
// a short grace.
//
// A command that cannot start, exits non-zero, is killed by a signal or
// times out is an *Error.
func (r *Runner) Run(ctx context.Context, what string, argv []string) error {
	if len(argv) == 0 {
		return nil
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	log := r.Log.With().Str("action", what).Str("cmd", argv[0]).Logger()
	out := newOutput(log)

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = pipeGrace
	cmd.Stdout = out.stream("stdout")
	cmd.Stderr = out.stream("stderr")

	start := time.Now()
	log.Debug().Strs("argv", argv).Dur("timeout", timeout).Msg("running service command")
	err := cmd.Run()
	out.flush()
	took := time.Since(start)

	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		log.Warn().Dur("took", took).Msg("service command exited, but a process it started keeps its output open; no longer reading it")
		err = nil
	}
	if err == nil {
		log.Info().Dur("took", took).Msg("service command succeeded")
		return nil
	}

	e := &Error{Argv: argv, ExitCode: -1, Output: out.tail(), Err: err}
	if cmd.ProcessState != nil {
		e.ExitCode = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		// Whatever the command was doing, it was killed for ctx.
		e.Err = ctx.Err()
		e.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
		if e.TimedOut {
			e.Err = fmt.Errorf("no result within %s: %w", timeout, ctx.Err())
		}
		// The group leader may have exited before the deadline while the
		// group lived on; make sure nothing of it is left.
		_ = killGroup(cmd)
	}
	log.Error().Dur("took", took).Int("exit_code", e.ExitCode).Bool("timed_out", e.TimedOut).Err(e.Err).
		Msg("service command failed")
	return e
}

// killGroup kills the command's whole process group.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Error is a command that could not start, failed or timed out.
type Error struct {
	Argv     []string
	ExitCode int    // the exit status; -1 if the command did not exit by itself
	Output   string // the last 4 KiB of its output, stdout and stderr as they came
	TimedOut bool   // killed because the timeout passed
	Err      error  // the cause
}

// Error names the command, what went wrong and the last line of output.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("service command ")
	b.WriteString(quoteArgv(e.Argv))
	switch {
	case e.TimedOut:
		b.WriteString(" was killed: ")
		b.WriteString(e.Err.Error())
	case e.ExitCode > 0:
		fmt.Fprintf(&b, " exited with status %d", e.ExitCode)
	default:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if last := lastLine(e.Output); last != "" {
		b.WriteString(": ")
		b.WriteString(last)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// quoteArgv renders argv for a message, quoting the words that need it.
func quoteArgv(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == '"' || r == '\'' || r == '\\' || r == 0x7f }) {
			a = fmt.Sprintf("%q", a)
		}
		words[i] = a
	}
	return strings.Join(words, " ")
}

// lastLine is the last non-blank line of s.
func lastLine(s string) string {
	s = strings.TrimRight(s, " \t\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
