package integration

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/api"
)

// `pgswitch status` compares the standby's replayed position with the
// active's write position: both are positions in the active's WAL, so under
// a write load, run from either node, the replayed one never passes the
// write one (it once did, because the write position was the monitor's poll,
// up to supervision.interval old).
func TestStatusReplayedNeverPastWrite(t *testing.T) {
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	startBoth(t, ctx, p)
	must(t, p.WaitStreaming(ctx, b, false))

	load := make(chan error, 1)
	go func() { load <- counterLoad(ctx, t, a, 2, 4000) }()
	for i := range 12 {
		n := p.Nodes[i%2]
		out, errOut, code, err := p.Run(ctx, n, "status", "--json")
		if err != nil || code != 0 {
			t.Fatalf("status on %s: exit %d %v: %s", n.Name, code, err, errOut)
		}
		var sts map[string]api.Status
		must(t, json.Unmarshal([]byte(out), &sts))
		act, stby := sts[a.Name], sts[b.Name]
		if act.State != "ACTIVE" || stby.Replication == nil || act.Database.WriteLSN == "" {
			t.Fatalf("status on %s: want %s ACTIVE with a write lsn and %s replicating: %s", n.Name, a.Name, b.Name, out)
		}
		w, err1 := replicationLSN(act.Database.WriteLSN)
		r, err2 := replicationLSN(stby.Replication.ReplayedLSN)
		must(t, errors.Join(err1, err2))
		if r > w {
			t.Errorf("status on %s (round %d): %s replayed %s is past %s's write lsn %s", n.Name, i, b.Name, r, a.Name, w)
		}
	}
	must(t, <-load)
}
