package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every directory the harness makes in the temporary directory is named
// pgtest-<pid>-<kind>-..., so that a later process can recognise and remove
// what a process that died (for example of a test timeout) left behind.
const dirPrefix = "pgtest-"

// pgHBA lets everything in without a password: these are throwaway clusters
// on loopback addresses, unix sockets and private network namespaces.
const pgHBA = `# pgtest: trust everything (test clusters only)
local   all          all                trust
local   replication  all                trust
host    all          all  0.0.0.0/0     trust
host    all          all  ::/0          trust
host    replication  all  0.0.0.0/0     trust
host    replication  all  ::/0          trust
`

var (
	templateMu  sync.Mutex
	templateDir string // holds data/, an initdb'd cluster; "" until made
	binMu       sync.Mutex
	binDir      string // holds binaries built by BuildPgswitch
)

// template returns the data directory that initdb made for this process,
// running initdb on first use. A failure is not remembered: the next caller
// tries again.
func template(ctx context.Context, bin string) (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()
	if templateDir != "" {
		return filepath.Join(templateDir, "data"), nil
	}
	sweepStale()
	dir, err := makeDir(os.TempDir(), "template")
	if err != nil {
		return "", fmt.Errorf("creating template directory: %w", err)
	}
	data := filepath.Join(dir, "data")
	if err := initdb(ctx, bin, data); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("the template cluster: %w", err)
	}
	templateDir = dir
	return data, nil
}

// initdb makes a new database cluster in data, with the test pg_hba.conf.
func initdb(ctx context.Context, bin, data string) error {
	args := []string{filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-sync", "--no-instructions"}
	if _, err := runPG(ctx, "", append(args, "--locale=C.UTF-8")...); err != nil {
		// Systems without a C.UTF-8 locale: fall back to plain C.
		os.RemoveAll(data)
		if _, err2 := runPG(ctx, "", append(args, "--no-locale")...); err2 != nil {
			return fmt.Errorf("initdb: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(pgHBA), 0o600); err != nil {
		return fmt.Errorf("writing pg_hba.conf: %w", err)
	}
	if err := chownPG(filepath.Join(data, "pg_hba.conf")); err != nil {
		return fmt.Errorf("writing pg_hba.conf: %w", err)
	}
	return nil
}

// Cleanup removes what this process keeps for its whole life: the initdb
// template and the binaries built by BuildPgswitch. Call it from TestMain
// after m.Run, or at the end of a demo; clusters and processes are removed
// separately. Anything it misses is removed by the next process that creates
// a cluster, once this process has exited.
func Cleanup() {
	templateMu.Lock()
	if templateDir != "" {
		os.RemoveAll(templateDir)
		templateDir = ""
	}
	templateMu.Unlock()
	binMu.Lock()
	if binDir != "" {
		os.RemoveAll(binDir)
		binDir = ""
	}
	binMu.Unlock()
}

// sweepStale removes the pgtest directories in os.TempDir() of processes
// that no longer exist, stopping any server still running in them first. It
// only touches real directories owned by us or the postgres user that are at
// least a minute old.
func sweepStale() {
	tmp := os.TempDir()
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	pgUID := -1
	if u, err := pgOSUser(); err == nil {
		pgUID = u.uid
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), dirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() || processExists(pid) {
			continue
		}
		path := filepath.Join(tmp, e.Name())
		fi, err := os.Lstat(path)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || (int(st.Uid) != os.Geteuid() && int(st.Uid) != pgUID) {
			continue
		}
		killOrphanPostmaster(filepath.Join(path, "data"))
		os.RemoveAll(path)
	}
}

// killOrphanPostmaster kills the postmaster of dataDir and its children if
// it still runs. The pid from postmaster.pid is trusted only when that
// process's working directory is dataDir, as a postmaster's is.
func killOrphanPostmaster(dataDir string) {
	pid, err := readPostmasterPID(dataDir)
	if err != nil || !processExists(pid) {
		return
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != dataDir {
		return
	}
	children := childPIDs(pid)
	syscall.Kill(pid, syscall.SIGKILL)
	for _, c := range children {
		syscall.Kill(c, syscall.SIGKILL)
	}
	waitGone(append(children, pid), 10*time.Second)
}
