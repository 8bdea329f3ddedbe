package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitDelay bounds how long a command may keep its output pipes open after
// it has exited or been cancelled.
const waitDelay = 10 * time.Second

// Need fails or skips the test when PostgreSQL binaries are missing or the
// process is neither root (it then runs them as the postgres user) nor the
// postgres user itself. With CI=true in the environment it calls t.Fatalf,
// because in CI the integration tests must run; otherwise it calls t.Skipf.
func Need(t testing.TB) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		missing(t, "PostgreSQL binaries not found: %v (install postgresql or set PG_BINDIR)", err)
		return
	}
	if _, err := pgOSUser(); err != nil {
		missing(t, "%v", err)
		return
	}
	if os.Geteuid() != 0 && !runningAsPostgres() {
		missing(t, "PostgreSQL clusters need root (to run the server as the postgres user) or running as the postgres user")
	}
}

// NeedRoot fails or skips the test when the process is not root, which
// network namespaces require. It follows the same CI=true policy as Need.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "test needs root (network namespaces)")
	}
}

// missing reports an unmet precondition: fatal in CI, a skip elsewhere.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: %s (CI=true: integration tests must not be skipped)", msg)
	}
	t.Skipf("pgtest: %s (skipped; set CI=true to make this fatal)", msg)
}

// BinDir returns the directory of the PostgreSQL server binaries: $PG_BINDIR
// if set, else the highest-versioned /usr/lib/postgresql/*/bin that contains
// postgres.
func BinDir() (string, error) {
	if dir := os.Getenv("PG_BINDIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
			return "", fmt.Errorf("PG_BINDIR=%s: %w", dir, err)
		}
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) == 0 {
		return "", errors.New("no /usr/lib/postgresql/*/bin/postgres")
	}
	// Order by the numeric version directory: 9.6 < 10 < 15 < 16.
	version := func(p string) []int {
		var v []int
		for _, f := range strings.Split(filepath.Base(filepath.Dir(filepath.Dir(p))), ".") {
			n, _ := strconv.Atoi(f)
			v = append(v, n)
		}
		return v
	}
	best := slices.MaxFunc(matches, func(a, b string) int {
		return slices.Compare(version(a), version(b))
	})
	return filepath.Dir(best), nil
}

// osUser is the postgres operating-system account.
type osUser struct {
	uid, gid int
	groups   []uint32 // supplementary groups
	home     string
}

var pgUserOnce = sync.OnceValues(func() (osUser, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return osUser{}, fmt.Errorf("looking up the postgres OS user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return osUser{}, fmt.Errorf("postgres OS user: %w", err)
	}
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				groups = append(groups, uint32(g))
			}
		}
	}
	return osUser{uid: uid, gid: gid, groups: groups, home: u.HomeDir}, nil
})

// pgOSUser returns the postgres account the servers run as.
func pgOSUser() (osUser, error) { return pgUserOnce() }

// runningAsPostgres reports whether this process already is the postgres user.
func runningAsPostgres() bool {
	u, err := pgOSUser()
	return err == nil && os.Geteuid() == u.uid
}

// checkPrivileges returns an error unless PostgreSQL can be run from here.
func checkPrivileges() error {
	if _, err := pgOSUser(); err != nil {
		return err
	}
	if os.Geteuid() != 0 && !runningAsPostgres() {
		return errors.New("pgtest needs root or the postgres OS user")
	}
	return nil
}

// chownPG hands path to the postgres user (a no-op unless root).
func chownPG(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := pgOSUser()
	if err != nil {
		return err
	}
	return os.Chown(path, u.uid, u.gid)
}

// pgCommand builds a command that runs argv as the postgres user, inside
// `ip netns exec netns` when netns is not empty. When this process is root
// the command drops to the postgres user itself (credentials set at fork, or
// setpriv after ip netns exec) rather than under a runuser parent, so that
// cancelling ctx signals the tool itself: it gets SIGTERM, then SIGKILL after
// waitDelay.
func pgCommand(ctx context.Context, netns string, argv ...string) *exec.Cmd {
	var full []string
	if netns != "" {
		full = append(full, "ip", "netns", "exec", netns)
		if os.Geteuid() == 0 {
			full = append(full, "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--")
		}
	}
	full = append(full, argv...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	if netns == "" && os.Geteuid() == 0 {
		if u, err := pgOSUser(); err == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
				Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: u.groups,
			}}
		}
	}
	cmd.Dir = "/"
	cmd.Env = pgEnv()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = waitDelay
	return cmd
}

// pgEnv is the environment for PostgreSQL tools: the caller's, minus the PG*
// variables that would redirect connections, with English messages (the
// harness matches on some) and the postgres user's home directory.
func pgEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") && k != "PG_BINDIR" || k == "LC_ALL" || k == "LANGUAGE" ||
			k == "HOME" || k == "USER" || k == "LOGNAME" {
			continue
		}
		env = append(env, kv)
	}
	home := "/"
	if u, err := pgOSUser(); err == nil && u.home != "" {
		home = u.home
	}
	return append(env, "LC_MESSAGES=C", "HOME="+home, "USER=postgres", "LOGNAME=postgres")
}

// runPG runs argv as the postgres user and returns its combined output; the
// error includes that output.
func runPG(ctx context.Context, netns string, argv ...string) (string, error) {
	out, err := pgCommand(ctx, netns, argv...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", filepath.Base(argv[0]), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// withTimeout gives ctx a deadline of d unless it already has one.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
