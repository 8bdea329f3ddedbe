// Helpers for directories, files and processes that are not this
// process's children.

package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// makeDir creates a fresh directory parent/pgtest-<pid>-<kind>-*, mode
// 0755 and owned by the postgres user.
func makeDir(parent, kind string) (string, error) {
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-%s-", dirPrefix, os.Getpid(), kind))
	if err != nil {
		return "", err
	}
	err = os.Chmod(dir, 0o755)
	if err == nil {
		err = chownPG(dir)
	}
	if err != nil {
		os.Remove(dir)
		return "", err
	}
	return dir, nil
}

// processExists reports whether pid is alive (a zombie counts as gone).
func processExists(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// Format: pid (comm) state ...; comm may contain spaces and parentheses.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, d := range dirs {
		stat, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:])) // state ppid ...
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if child, err := strconv.Atoi(filepath.Base(filepath.Dir(d))); err == nil {
			out = append(out, child)
		}
	}
	return out
}

// waitGone polls until none of pids exists or timeout passes; it reports
// whether they are all gone.
func waitGone(pids []int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		alive := false
		for _, p := range pids {
			if processExists(p) {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// sanitize makes a name usable in directory names.
func sanitize(name string) string {
	name = unsafeName.ReplaceAllString(name, "_")
	if name == "" {
		name = "pg"
	}
	if len(name) > 24 {
		name = name[:24]
	}
	return name
}

// reachable checks that the postgres user can traverse every directory from
// / down to dir, so that it can reach the cluster directory made inside.
func reachable(dir string) error {
	u, err := pgOSUser()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !canTraverse(fi, u) {
			return fmt.Errorf("directory %s (mode %v) cannot be entered by the postgres user; use a parent with mode 0755", p, fi.Mode().Perm())
		}
		if p == "/" {
			return nil
		}
	}
}

// readPostmasterPID reads the first line of dataDir/postmaster.pid.
func readPostmasterPID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad postmaster.pid in %s: %q", dataDir, first)
	}
	return pid, nil
}

// canTraverse reports whether u may enter the directory described by fi.
func canTraverse(fi os.FileInfo, u osUser) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == u.uid:
		return perm&0o100 != 0
	case int(st.Gid) == u.gid:
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}

// MkdirPG creates dir, mode 0755 and owned by the postgres user (when
// root), for programs that run as that user outside a Cluster (the
// benchmark's Patroni).
func MkdirPG(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		return err
	}
	return chownPG(dir)
}

// KillTrees sends SIGKILL to each of pids and to every process descended
// from them, all listed first and then killed in one sweep (the loss of a
// host), and waits up to timeout until they are gone. It returns when the
// last signal had been sent: from then on none of them runs again. A pid
// already gone is not an error.
func KillTrees(timeout time.Duration, pids ...int) (time.Time, error) {
	var all []int
	var walk func(pid int)
	walk = func(pid int) {
		all = append(all, pid)
		for _, c := range childPIDs(pid) {
			walk(c)
		}
	}
	for _, pid := range pids {
		walk(pid)
	}
	for _, pid := range all {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
			return time.Now(), fmt.Errorf("killing process %d: %w", pid, err)
		}
	}
	at := time.Now()
	if !waitGone(all, timeout) {
		return at, fmt.Errorf("processes %v still alive %v after SIGKILL", all, timeout)
	}
	return at, nil
}
