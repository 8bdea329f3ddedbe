package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// Switchovers back and forth under continuous writes through the VIP, in
// network namespaces: every acknowledged write is on both nodes afterwards,
// direct writes are never accepted by both nodes in the same period, the
// VIP is never on both hosts, and the client reaches the new active
// without flushing its ARP cache.
func TestSwitchoverUnderLoadThroughVIP(t *testing.T) {
	np := newNetPair(t, harness.Options{})
	ctx := ctxFor(t, 4*time.Minute)
	a, b := np.start(ctx, t)
	pgtest.Eventually(t, 20*time.Second, "the VIP on host a", func() (bool, error) {
		st, err := np.Status(ctx, a)
		return err == nil && st.VIP != nil && st.VIP.Held, err
	})

	ld := np.startLoad(ctx, t)

	const rounds = 4
	issuers := []*harness.Node{a, a, b, b} // promote runs on either node
	for i := 0; i < rounds; i++ {
		sleepCtx(ctx, 700*time.Millisecond)
		oldActive, newActive := np.active(ctx, t)
		code, out := np.promote(ctx, t, issuers[i])
		t.Logf("round %d: promote on %s:\n%s", i+1, issuers[i].Name, out)
		if code != 0 {
			t.Fatalf("round %d: promote exit %d", i+1, code)
		}
		waitState(t, np.Pair, newActive, "ACTIVE")
		waitState(t, np.Pair, oldActive, "STANDBY")
		// The client's neighbour entry for the VIP moved to the new host
		// by the announcements alone.
		want := np.net.Hosts[map[string]string{"node-a": "a", "node-b": "b"}[newActive.Name]].MAC
		pgtest.Eventually(t, 5*time.Second, "the client's ARP entry for the VIP to point at "+newActive.Name, func() (bool, error) {
			mac, err := np.net.Neigh("client", np.vip)
			return err == nil && mac.String() == want.String(), err
		})
		waitRole(t, np.Pair, oldActive, "STANDBY", true)
	}
	sleepCtx(ctx, 500*time.Millisecond)
	// Every acknowledged write is on both nodes; direct writes were never
	// accepted by both nodes in the same period, and each new active
	// handed out ids above the old one's; the VIP was never on both hosts.
	res := ld.finish(ctx, t)
	acks, directAcks, holders := res.vip, res.direct, res.holders
	if len(acks) < 100 {
		t.Fatalf("only %d writes through the VIP were acknowledged", len(acks))
	}
	changes := 0
	for i := 1; i < len(directAcks); i++ {
		if directAcks[i].Via != directAcks[i-1].Via {
			changes++
		}
	}
	if changes > rounds {
		t.Errorf("direct writes changed node %d times in %d switchovers: writers alternated", changes, rounds)
	}

	pause := ld.longestPause(t, acks)
	t.Logf("%d writes acknowledged through the VIP, %d direct; longest pause %s; VIP samples %v",
		len(acks), len(directAcks), pause.Round(time.Millisecond), holders)
	if !strings.Contains(holders2str(holders), "a") || !strings.Contains(holders2str(holders), "b") {
		t.Errorf("the VIP watcher never saw both hosts hold the VIP in turn: %v", holders)
	}
}

func holders2str(h map[string]int) string {
	var s []string
	for k, v := range h {
		if v > 0 {
			s = append(s, k)
		}
	}
	return strings.Join(s, ",")
}
