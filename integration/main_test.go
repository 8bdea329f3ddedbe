// Package integration tests pgswitch end to end against real PostgreSQL
// servers, real pgswitch processes and (as root) real network namespaces.
package integration

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Cleanup()
	os.Exit(code)
}

// newPair builds a pair for the test and removes it afterwards; on failure
// the daemons' logs are shown.
func newPair(t *testing.T, opts harness.Options) *harness.Pair {
	t.Helper()
	pgtest.Need(t)
	if opts.Dir == "" {
		// A short path (unix socket paths are limited to 107 bytes) that
		// the postgres user can enter.
		dir, err := os.MkdirTemp("", "pgsw-")
		must(t, err)
		must(t, os.Chmod(dir, 0o755))
		t.Cleanup(func() { os.RemoveAll(dir) })
		opts.Dir = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := harness.New(ctx, opts)
	if err != nil {
		t.Fatalf("building the pair: %v", err)
	}
	t.Cleanup(func() {
		// SHOWLOG=<regexp> prints matching daemon log lines (a debugging aid).
		if re := os.Getenv("SHOWLOG"); re != "" {
			for _, n := range p.Nodes {
				if n.Daemon != nil {
					for _, line := range strings.Split(n.Daemon.Log(), "\n") {
						if ok, _ := regexp.MatchString(re, line); ok {
							t.Logf("%s: %s", n.Name, line)
						}
					}
				}
			}
		}
		if t.Failed() {
			for _, n := range p.Nodes {
				if n.Daemon != nil {
					t.Logf("---- %s daemon log (tail) ----\n%s", n.Name, tail(n.Daemon.Log(), 60))
				}
				if n.Cluster != nil {
					t.Logf("---- %s server log (tail) ----\n%s", n.Name, n.Cluster.LogTail(30))
				}
			}
		}
		p.Close()
	})
	return p
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// startBoth initialises the pair (node-a primary, node-b standby) and
// starts both daemons.
func startBoth(t *testing.T, ctx context.Context, p *harness.Pair) {
	t.Helper()
	must(t, p.Init(ctx))
	for _, n := range p.Nodes {
		must(t, p.StartDaemon(ctx, n))
	}
}

// waitFault polls n's status until it lists the fault reason with detail
// in its text.
func waitFault(t *testing.T, ctx context.Context, p *harness.Pair, n *harness.Node, reason, detail string) {
	t.Helper()
	pgtest.Eventually(t, 30*time.Second, "the "+reason+" fault on "+n.Name, func() (bool, error) {
		st, err := p.Status(ctx, n)
		if err != nil {
			return false, err
		}
		for _, f := range st.Faults {
			if f.Reason == reason && strings.Contains(f.Detail, detail) {
				return true, nil
			}
		}
		return false, nil
	})
}
