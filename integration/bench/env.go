package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux platform Go supports).
const clockTick = 10 * time.Millisecond

// cpuTime is the user and system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
	}
	// The command name may contain spaces: the fields that follow it
	// start after the last ')'; utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	var fields []string
	if i >= 0 {
		fields = strings.Fields(string(b[i+1:]))
	}
	if len(fields) < 13 {
		return 0, fmt.Errorf("reading the CPU time of process %d: unexpected /proc/%d/stat", pid, pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("reading the CPU time of process %d: bad utime/stime in /proc/%d/stat", pid, pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// runQueueWait is the time the threads of a process have spent runnable
// but waiting for a CPU (the second field of /proc/<pid>/task/*/schedstat):
// on a shared machine, how much other work held the appliers back.
func runQueueWait(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no schedstat for process %d", pid)
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return 0, fmt.Errorf("unexpected %s", t)
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected %s: %w", t, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// loadAverage is the 1-minute load average.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	first, _, _ := strings.Cut(string(b), " ")
	return first
}

// fileSystem names the file system that holds dir, from /proc/mounts.
func fileSystem(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown file system"
	}
	best, desc := "", "unknown file system"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mnt := f[1]
		if (dir == mnt || strings.HasPrefix(dir, strings.TrimSuffix(mnt, "/")+"/")) && len(mnt) >= len(best) {
			best, desc = mnt, fmt.Sprintf("%s (%s on %s)", f[2], f[0], mnt)
		}
	}
	return desc
}

// otherPostmasters counts the PostgreSQL servers running outside ours (the
// data directory not below mine): other work on the machine that makes
// the figures noisy.
func otherPostmasters(mine string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	n := 0
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(argv[0]) != "postgres" {
			continue // backends rewrite their command line; only postmasters keep it
		}
		for i, a := range argv[:len(argv)-1] {
			if a == "-D" && !strings.HasPrefix(argv[i+1], mine+"/") {
				n++
			}
		}
	}
	return n
}
