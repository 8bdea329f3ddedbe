package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// waitFaultState polls n's status until the fault is (or is not) present.
func waitFaultState(t *testing.T, p *harness.Pair, n *harness.Node, reason string, present bool) {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	what := fmt.Sprintf("fault %s on %s to be present=%t", reason, n.Name, present)
	pgtest.Eventually(t, 45*time.Second, what, func() (bool, error) {
		st, err := p.Status(ctx, n)
		if err != nil {
			return false, err
		}
		return hasFault(st.Faults, reason) == present, nil
	})
	_, metrics := httpGet(t, n.APIURL()+"/metrics", "")
	want := fmt.Sprintf(`pgswitch_fault{node="%s",reason="%s"} %d`, n.Name, reason, map[bool]int{true: 1, false: 0}[present])
	if !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s", want)
	}
}

// Each fault of the supervision loop injected for real, seen in status and
// metrics, then cleared: the service program's check failing, a full disk
// (a small tmpfs), the standby's database stopped.
func TestFaultsInjectedAndCleared(t *testing.T) {
	pgtest.NeedRoot(t)
	flags := t.TempDir()
	disk, err := os.MkdirTemp("", "pgsw-disk-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(disk) })
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "pgswitch-test", disk).CombinedOutput(); err != nil {
		t.Fatalf("mounting a small tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", disk).Run() })
	healthy := func(n int) string { return filepath.Join(flags, fmt.Sprintf("healthy-%d", n)) }
	for i := range 2 {
		must(t, os.WriteFile(healthy(i), nil, 0o644))
	}
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed,
		Env: []string{"PGSWITCH_SUPERVISION_SERVICE_CHECK_INTERVAL=200ms", "PGSWITCH_SUPERVISION_FAULT_GRACE=1s"},
		Config: func(i int) []string {
			lines := []string{"service:", fmt.Sprintf("  check: [\"test\", \"-f\", %q]", healthy(i))}
			if i == 1 {
				lines = append(lines, "supervision:", "  disk_path: "+disk, "  disk_min_free_percent: 50")
			}
			return lines
		}})
	ctx := ctxFor(t, 4*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	waitRole(t, p, b, "STANDBY", true)

	// The service program's check fails on the active.
	must(t, os.Remove(healthy(0)))
	waitFaultState(t, p, a, "service_check_failed", true)
	must(t, os.WriteFile(healthy(0), nil, 0o644))
	waitFaultState(t, p, a, "service_check_failed", false)

	// The standby's disk fills up: a fault, and the standby goes FAULT.
	must(t, exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(disk, "fill"), "bs=1M", "count=3").Run())
	waitFaultState(t, p, b, "disk_full", true)
	waitState(t, p, b, "FAULT")
	must(t, os.Remove(filepath.Join(disk, "fill")))
	waitFaultState(t, p, b, "disk_full", false)
	waitState(t, p, b, "STANDBY")

	// The standby's database stops.
	must(t, b.Cluster.Stop(ctx, "fast"))
	waitFaultState(t, p, b, "database_unreachable", true)
	waitState(t, p, b, "FAULT")
	if code := probe(t, p, b, "/health"); code != 503 {
		t.Errorf("/health on a node whose database is down: %d, want 503", code)
	}
	must(t, b.Cluster.StartServer(ctx))
	waitFaultState(t, p, b, "database_unreachable", false)
	waitState(t, p, b, "STANDBY")
	must(t, counterLoad(ctx, t, a, 2, 100))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "counters", "events"))
}

// Fault-initiated switchover: the active's service check keeps failing, so
// the active starts the handshake itself; no acknowledged write is lost and
// the two nodes never take writes in the same period.
func TestFaultInitiatedSwitchover(t *testing.T) {
	flags := t.TempDir()
	healthy := func(n int) string { return filepath.Join(flags, fmt.Sprintf("healthy-%d", n)) }
	for i := range 2 {
		must(t, os.WriteFile(healthy(i), nil, 0o644))
	}
	np := newNetPair(t, harness.Options{
		Env: []string{"PGSWITCH_SUPERVISION_SERVICE_CHECK_INTERVAL=200ms", "PGSWITCH_FAILOVER_AUTO=true", "PGSWITCH_FAILOVER_AFTER=1s"},
		Config: func(i int) []string {
			return []string{"service:", fmt.Sprintf("  check: [\"test\", \"-f\", %q]", healthy(i))}
		}})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := np.start(ctx, t)
	ld := np.startLoad(ctx, t)
	sleepCtx(ctx, time.Second)

	must(t, os.Remove(healthy(0)))
	waitState(t, np.Pair, b, "ACTIVE")
	waitState(t, np.Pair, a, "STANDBY")
	if !strings.Contains(a.Daemon.Log(), "fault-initiated switchover") {
		t.Errorf("node-a's log does not say why it switched over")
	}
	sleepCtx(ctx, time.Second)
	res := ld.finish(ctx, t)
	if res.active != b {
		t.Fatalf("%s is active after the fault-initiated switchover, want node-b", res.active.Name)
	}
	acks, directAcks := res.vip, res.direct
	pause := ld.longestPause(t, acks)
	t.Logf("%d writes through the VIP, %d direct, all present; longest pause %s", len(acks), len(directAcks), pause.Round(time.Millisecond))
}
