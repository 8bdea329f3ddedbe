package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Runner runs the service program's commands.
type Runner struct {
	Timeout time.Duration
	Log     zerolog.Logger
}

// Error is a command that failed, timed out or could not start.
type Error struct {
	Argv     []string
	ExitCode int // -1 when it did not exit normally
	Output   string
	TimedOut bool
	Err      error
}

func (e *Error) Error() string {
	what := fmt.Sprintf("%s exited with code %d", e.Argv[0], e.ExitCode)
	switch {
	case e.TimedOut:
		what = fmt.Sprintf("%s did not finish in time (killed)", e.Argv[0])
	case e.ExitCode == -1:
		what = fmt.Sprintf("%s: %v", e.Argv[0], e.Err)
	}
	if out := strings.TrimSpace(e.Output); out != "" {
		if i := strings.LastIndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
		what += ": " + out
	}
	return what
}

func (e *Error) Unwrap() error { return e.Err }

const keepOutput = 4 << 10

// Run executes argv (no shell; an empty argv succeeds at once) within
// r.Timeout. Output lines go to the log; the whole process group is killed
// on timeout.
func (r *Runner) Run(ctx context.Context, what string, argv []string) error {
	if len(argv) == 0 {
		return nil
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return &Error{Argv: argv, ExitCode: -1, Err: err}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return &Error{Argv: argv, ExitCode: -1, Err: err}
	}
	log := r.Log.With().Str("action", what).Str("cmd", argv[0]).Logger()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return &Error{Argv: argv, ExitCode: -1, Err: err}
	}
	tail := &tailBuffer{}
	var wg sync.WaitGroup
	for name, rd := range map[string]io.Reader{"stdout": stdout, "stderr": stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(rd)
			sc.Buffer(make([]byte, 4096), 1<<20)
			for sc.Scan() {
				log.Info().Str("stream", name).Str("line", sc.Text()).Msg("service output")
				tail.add(sc.Text())
			}
		}()
	}
	wg.Wait()
	err = cmd.Wait()
	took := time.Since(start)
	if err == nil {
		log.Info().Dur("took", took).Msg("service command done")
		return nil
	}
	e := &Error{Argv: argv, ExitCode: -1, Output: tail.String(), Err: err}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		e.ExitCode = exit.ExitCode()
	}
	if ctx.Err() == context.DeadlineExceeded {
		e.TimedOut = true
	}
	// Kill what is left of the group (a grandchild that kept running).
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	log.Error().Dur("took", took).Int("exit_code", e.ExitCode).Bool("timed_out", e.TimedOut).Err(err).Msg("service command failed")
	return e
}

// tailBuffer keeps the last keepOutput bytes of output.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, line...)
	t.b = append(t.b, '\n')
	if len(t.b) > keepOutput {
		t.b = t.b[len(t.b)-keepOutput:]
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
