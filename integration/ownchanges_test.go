package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
)

// A transaction that the active's applier wrote under its replication
// origin is the standby's own change coming back (what a stale reverse slot
// replays). The standby refuses it whole, as the named fault
// replayed_own_changes, and applies nothing of it — with an UPDATE, applying
// would silently write old values over new ones.
func TestOwnChangesComingBackAreRefused(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	must(t, p.WaitStreaming(ctx, b, false))
	must(t, p.WaitCaughtUp(ctx, a, b))

	// On the active, a session stamped with the origin that node-a's
	// applier uses for what comes from node-b: as if node-a had applied it.
	// (Statement by statement: the origin must still be set at COMMIT.)
	conn, err := a.Cluster.Conn(ctx, harness.DB)
	must(t, err)
	defer conn.Close(ctx)
	for _, q := range []string{
		"SELECT pg_catalog.pg_replication_origin_session_setup('pgswitch_from_node_b')",
		"BEGIN",
		"UPDATE counters SET n = n + 1000 WHERE id = 1",
		"INSERT INTO events (counter) VALUES (-1)",
		"COMMIT",
		"SELECT pg_catalog.pg_replication_origin_session_reset()",
	} {
		_, err := conn.Exec(ctx, q)
		must(t, err)
	}
	waitFault(t, ctx, p, b, "replayed_own_changes", "pgswitch_from_node_b")
	for q, want := range map[string]string{
		"SELECT n FROM counters WHERE id = 1":            "0",
		"SELECT count(*) FROM events WHERE counter = -1": "0",
	} {
		got, err := b.Cluster.QueryString(ctx, harness.DB, q)
		must(t, err)
		if got != want {
			t.Errorf("standby applied its own change coming back: %s = %s, want %s", q, got, want)
		}
	}
	_, metrics := httpGet(t, b.APIURL()+"/metrics", "")
	if !strings.Contains(metrics, `pgswitch_fault{node="node-b",reason="replayed_own_changes"} 1`) {
		t.Errorf("metrics do not show the replayed_own_changes fault")
	}
}
