package quorum_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pgswitch/pgswitch/internal/pgtest"
	"github.com/pgswitch/pgswitch/internal/quorum"
)

func readEpoch(t *testing.T, c *quorum.Client) quorum.Epoch {
	t.Helper()
	e, err := c.ReadEpoch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func revoke(t *testing.T, l *quorum.Lease) {
	t.Helper()
	if err := l.Revoke(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The takeover's key changes against a real etcd: a claim takes the next
// epoch once; the old holder can no longer regain its epoch; the claimant
// can finish its own claim after its lease was lost, without a third
// epoch; a claim decided before the key was taken and lost again fails.
func TestClaimAndRegain(t *testing.T) {
	c := connect(t, pgtest.StartEtcd(t, 1).Endpoints())
	ctx := context.Background()
	if e := readEpoch(t, c); e.Revision != 0 {
		t.Fatalf("a fresh etcd has an epoch key: %+v", e)
	}
	la := grant(t, c)
	if _, err := c.TakeLeader(ctx, la, "node-a", 1); err != nil {
		t.Fatal(err)
	}
	if e := readEpoch(t, c); e.Node != "node-a" || e.Epoch != 1 {
		t.Fatalf("epoch key after the first leader: %+v", e)
	}
	// node-a's key is held: no claim.
	if _, err := c.Claim(ctx, grant(t, c), "node-b", 1, readEpoch(t, c)); !errors.Is(err, quorum.ErrLeaderExists) {
		t.Fatalf("claim while held: %v, want ErrLeaderExists", err)
	}

	// node-a's lease lost, node-b decides to take over; before its claim
	// arrives node-a regains its epoch, and loses it again.
	revoke(t, la)
	decided := readEpoch(t, c)
	la2 := grant(t, c)
	if held, err := c.Regain(ctx, la2, "node-a", 1); err != nil || held.Epoch != 1 {
		t.Fatalf("regain after the lease was lost: %+v %v", held, err)
	}
	revoke(t, la2)
	if _, err := c.Claim(ctx, grant(t, c), "node-b", 1, decided); !errors.Is(err, quorum.ErrEpochMoved) {
		t.Fatalf("a claim decided before the key was taken and lost again: %v, want ErrEpochMoved", err)
	}

	// A claim decided now takes epoch 2.
	lb := grant(t, c)
	held, err := c.Claim(ctx, lb, "node-b", 1, readEpoch(t, c))
	if err != nil || held.Node != "node-b" || held.Epoch != 2 {
		t.Fatalf("claim: %+v %v", held, err)
	}
	st, err := c.ReadLeader(ctx)
	if err != nil || !st.Present || st.Node != "node-b" || st.Epoch != 2 || st.Revision != held.Revision {
		t.Fatalf("leader after the claim: %+v %v (held %+v)", st, err, held)
	}
	// The old holder can never come back in its epoch, nor claim from it.
	if _, err := c.Regain(ctx, grant(t, c), "node-a", 1); !errors.Is(err, quorum.ErrEpochMoved) {
		t.Fatalf("regain in a left epoch: %v, want ErrEpochMoved", err)
	}
	if _, err := c.Claim(ctx, grant(t, c), "node-a", 1, readEpoch(t, c)); !errors.Is(err, quorum.ErrEpochMoved) {
		t.Fatalf("a claim from a left epoch: %v, want ErrEpochMoved", err)
	}

	// node-b repeats its claim (its answer lost): rebound to a new
	// lease, still epoch 2; then its lease is lost and it finishes the
	// claim again, still epoch 2.
	lb2 := grant(t, c)
	again, err := c.Claim(ctx, lb2, "node-b", 1, readEpoch(t, c))
	if err != nil || again.Epoch != 2 {
		t.Fatalf("repeated claim: %+v %v", again, err)
	}
	revoke(t, lb) // the first lease no longer holds the key
	if st, err := c.ReadLeader(ctx); err != nil || !st.Present || st.Node != "node-b" {
		t.Fatalf("the key went with the old lease after the rebind: %+v %v", st, err)
	}
	revoke(t, lb2)
	if st, err := c.ReadLeader(ctx); err != nil || st.Present {
		t.Fatalf("the key outlived its lease: %+v %v", st, err)
	}
	again, err = c.Claim(ctx, grant(t, c), "node-b", 1, readEpoch(t, c))
	if err != nil || again.Epoch != 2 {
		t.Fatalf("finishing its own claim after the lease was lost: %+v %v", again, err)
	}
	if e := readEpoch(t, c); e.Node != "node-b" || e.Epoch != 2 {
		t.Fatalf("epoch key: %+v, want node-b in 2", e)
	}
	// A guarded write of the claimant works with the revision it holds.
	if err := c.SetSync(ctx, again, []string{"node-a"}); err != nil {
		t.Fatalf("sync key after the claim: %v", err)
	}
}

// A planned handover moves the epoch key with the leader.
func TestHandoverMovesTheEpochKey(t *testing.T) {
	c := connect(t, pgtest.StartEtcd(t, 1).Endpoints())
	ctx := context.Background()
	old, err := c.TakeLeader(ctx, grant(t, c), "node-a", 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Handover(ctx, grant(t, c), old, "node-b"); err != nil {
		t.Fatal(err)
	}
	if e := readEpoch(t, c); e.Node != "node-b" || e.Epoch != 4 {
		t.Fatalf("epoch key after the handover: %+v, want node-b in 4", e)
	}
	if _, err := c.Regain(ctx, grant(t, c), "node-a", 3); !errors.Is(err, quorum.ErrEpochMoved) {
		t.Fatalf("the old holder regains after a handover: %v, want ErrEpochMoved", err)
	}
}
