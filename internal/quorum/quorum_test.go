package quorum_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/internal/pgtest"
	"github.com/pgswitch/pgswitch/internal/quorum"
)

const ttl = 2 * time.Second // etcd's minimum: the shortest tests

func connect(t *testing.T, endpoints []string) *quorum.Client {
	t.Helper()
	c, err := quorum.New(quorum.Settings{Endpoints: endpoints, Cluster: "pair", Prefix: "/pgswitch/", LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func grant(t *testing.T, c *quorum.Client) *quorum.Lease {
	t.Helper()
	l, err := c.Grant(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestTakeLeaderOnlyWhenAbsent(t *testing.T) {
	c := connect(t, pgtest.StartEtcd(t, 1).Endpoints())
	ctx := context.Background()
	a, b := grant(t, c), grant(t, c)
	held, err := c.TakeLeader(ctx, a, "node-a", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TakeLeader(ctx, b, "node-b", 2); !errors.Is(err, quorum.ErrLeaderExists) {
		t.Fatalf("second take: %v, want ErrLeaderExists", err)
	}
	st, err := c.ReadLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Present || st.Node != "node-a" || st.Epoch != 1 || st.Revision != held.Revision {
		t.Fatalf("leader %+v, want node-a epoch 1 revision %d", st, held.Revision)
	}
	if st.TTLLeft <= 0 || st.TTLLeft > ttl {
		t.Fatalf("lease time left %s, want in (0, %s]", st.TTLLeft, ttl)
	}
}

func TestLeaseExpiryDeletesKeyAndWatchReportsIt(t *testing.T) {
	c := connect(t, pgtest.StartEtcd(t, 1).Endpoints())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held, err := c.TakeLeader(ctx, grant(t, c), "node-a", 1)
	if err != nil {
		t.Fatal(err)
	}
	events := c.WatchLeader(ctx, held.Revision)
	pgtest.Eventually(t, 10*time.Second, "the leader key to expire", func() (bool, error) {
		st, err := c.ReadLeader(ctx)
		return err == nil && !st.Present, err
	})
	select {
	case ev := <-events:
		if !ev.Deleted || ev.Err != nil {
			t.Fatalf("watch reported %+v, want the deletion", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not report the deletion")
	}
}

func TestRenewalKeepsLeaderPastTTL(t *testing.T) {
	c := connect(t, pgtest.StartEtcd(t, 1).Endpoints())
	ctx := context.Background()
	l := grant(t, c)
	if _, err := c.TakeLeader(ctx, l, "node-a", 1); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(ttl * 3 / 2)
	first := l.LastRenewalSent()
	tick := time.NewTicker(300 * time.Millisecond) // the holder's renewal interval
	defer tick.Stop()
	for time.Now().Before(end) {
		<-tick.C
		before := time.Now()
		if err := l.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		sent := l.LastRenewalSent()
		if sent.Before(before) || sent.After(time.Now()) {
			t.Fatalf("last renewal sent at %v, not within the call started at %v", sent, before)
		}
		if got := l.SelfFenceDeadline().Sub(sent); got != ttl*2/3 {
			t.Fatalf("self-fence deadline %s after the send, want %s", got, ttl*2/3)
		}
	}
	if !l.LastRenewalSent().After(first) {
		t.Fatal("renewals did not advance the last renewal time")
	}
	st, err := c.ReadLeader(ctx)
	if err != nil || !st.Present || st.Node != "node-a" {
		t.Fatalf("after %s of renewals: %+v, %v; want node-a still leader", ttl*3/2, st, err)
	}
}

func TestHandoverIsFencedByHolderAndRevision(t *testing.T) {
	c := connect(t, pgtest.StartEtcd(t, 1).Endpoints())
	ctx := context.Background()
	old, err := c.TakeLeader(ctx, grant(t, c), "node-a", 4)
	if err != nil {
		t.Fatal(err)
	}
	newLease := grant(t, c)
	stale := old
	stale.Revision--
	if _, err := c.Handover(ctx, newLease, stale, "node-b"); !errors.Is(err, quorum.ErrNotLeader) {
		t.Fatalf("handover with a stale revision: %v, want ErrNotLeader", err)
	}
	wrong := old
	wrong.Node = "node-c"
	if _, err := c.Handover(ctx, newLease, wrong, "node-b"); !errors.Is(err, quorum.ErrNotLeader) {
		t.Fatalf("handover from the wrong holder: %v, want ErrNotLeader", err)
	}
	held, err := c.Handover(ctx, newLease, old, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	if held.Node != "node-b" || held.Epoch != 5 {
		t.Fatalf("after the handover %+v, want node-b epoch 5", held)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case ev := <-c.WatchLeader(wctx, old.Revision):
		if ev.Err != nil || ev.Deleted || ev.Leader.Node != "node-b" || ev.Leader.Epoch != 5 || ev.Revision != held.Revision {
			t.Fatalf("watch reported %+v, want node-b epoch 5 at revision %d", ev, held.Revision)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not report the handover")
	}
	if _, err := c.Handover(ctx, grant(t, c), old, "node-c"); !errors.Is(err, quorum.ErrNotLeader) {
		t.Fatalf("a second handover from the old holder: %v, want ErrNotLeader", err)
	}
	st, err := c.ReadLeader(ctx)
	if err != nil || st.Node != "node-b" || st.Epoch != 5 || st.Revision != held.Revision {
		t.Fatalf("leader %+v, %v; want node-b epoch 5", st, err)
	}
}

func TestSyncAndSeqOnlyForTheLeader(t *testing.T) {
	c := connect(t, pgtest.StartEtcd(t, 1).Endpoints())
	ctx := context.Background()
	old, err := c.TakeLeader(ctx, grant(t, c), "node-a", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetSync(ctx, old, []string{"node-b"}); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishSeq(ctx, old, map[string]int64{"public.t_id_seq": 42}); err != nil {
		t.Fatal(err)
	}
	held, err := c.Handover(ctx, grant(t, c), old, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ClearSync(ctx, old); !errors.Is(err, quorum.ErrNotLeader) {
		t.Fatalf("old leader clearing sync: %v, want ErrNotLeader", err)
	}
	if err := c.PublishSeq(ctx, old, map[string]int64{"public.t_id_seq": 1}); !errors.Is(err, quorum.ErrNotLeader) {
		t.Fatalf("old leader publishing seq: %v, want ErrNotLeader", err)
	}
	if s, err := c.ReadSync(ctx); err != nil || len(s) != 1 || s[0] != "node-b" {
		t.Fatalf("sync %v, %v; want [node-b] (the refused clear changed nothing)", s, err)
	}
	if s, err := c.ReadSeq(ctx); err != nil || s["public.t_id_seq"] != 42 {
		t.Fatalf("seq %v, %v; want 42", s, err)
	}
	if err := c.ClearSync(ctx, held); err != nil {
		t.Fatal(err)
	}
	if s, err := c.ReadSync(ctx); err != nil || s != nil {
		t.Fatalf("sync after clear %v, %v; want none", s, err)
	}
}
