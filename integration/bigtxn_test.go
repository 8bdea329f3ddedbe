package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
)

// peakRSS is the process's high-water mark of resident memory in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// A 200 MB single source transaction is applied as it streams: the
// daemon's resident memory stays bounded.
func TestBigTransactionBoundedMemory(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: skipping the 200 MB transaction (CI=true runs it)")
	}
	p := newPair(t, harness.Options{Schema: `CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL)`})
	ctx := ctxFor(t, 5*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	must(t, p.Init(ctx))
	must(t, p.StartDaemon(ctx, b))

	// About 200 MB of row data in one transaction: 640,000 rows of 320 bytes.
	must(t, a.Cluster.Exec(ctx, harness.DB,
		`INSERT INTO big SELECT i, repeat(md5(i::text), 10) FROM generate_series(1, 640000) i`))
	size, err := a.Cluster.QueryString(ctx, harness.DB, "SELECT pg_size_pretty(sum(pg_column_size(b.*))) FROM big b")
	must(t, err)
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "big"))
	rss, err := peakRSS(b.Daemon.Pid())
	must(t, err)
	t.Logf("one transaction of %s applied; the standby daemon's peak RSS was %d MiB", size, rss>>20)
	if rss > 100<<20 {
		t.Fatalf("the daemon's peak RSS was %d MiB applying one big transaction, want under 100 MiB", rss>>20)
	}
	st, err := p.Status(ctx, b)
	must(t, err)
	if st.Replication.AppliedTxns != 1 {
		t.Fatalf("applied %d transactions, want exactly 1 (one source transaction, one local)", st.Replication.AppliedTxns)
	}
}
