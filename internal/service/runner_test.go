package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestRunSuccessAndEmpty(t *testing.T) {
	r := &Runner{Timeout: 5 * time.Second, Log: zerolog.Nop()}
	if err := r.Run(context.Background(), "start", nil); err != nil {
		t.Fatalf("empty argv: %v", err)
	}
	if err := r.Run(context.Background(), "start", []string{"true"}); err != nil {
		t.Fatalf("true: %v", err)
	}
}

func TestRunNonZeroExit(t *testing.T) {
	r := &Runner{Timeout: 5 * time.Second, Log: zerolog.Nop()}
	err := r.Run(context.Background(), "check", []string{"/bin/sh", "-c", "echo starting; echo broken >&2; exit 3"})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want *Error", err)
	}
	if e.ExitCode != 3 || e.TimedOut || !strings.Contains(e.Output, "broken") {
		t.Fatalf("got %+v", e)
	}
	if !strings.Contains(err.Error(), "code 3") {
		t.Fatalf("message %q does not name the exit code", err)
	}
}

func TestRunMissingProgram(t *testing.T) {
	r := &Runner{Timeout: time.Second, Log: zerolog.Nop()}
	err := r.Run(context.Background(), "start", []string{"/nonexistent/program"})
	var e *Error
	if !errors.As(err, &e) || e.ExitCode != -1 {
		t.Fatalf("got %v", err)
	}
}

// The timeout kills the whole process group, grandchildren included.
func TestRunTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := &Runner{Timeout: 200 * time.Millisecond, Log: zerolog.Nop()}
	start := time.Now()
	err := r.Run(context.Background(), "stop", []string{"/bin/sh", "-c", "sleep 30 & echo $! > " + pidFile + "; wait"})
	var e *Error
	if !errors.As(err, &e) || !e.TimedOut {
		t.Fatalf("got %v, want a timeout", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("took %s to time out", took)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(3 * time.Second)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still alive after the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
