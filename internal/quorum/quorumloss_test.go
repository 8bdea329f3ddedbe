package quorum_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// followers returns the indexes of the members that are not etcd's raft
// leader, so that killing one does not cause an election.
func followers(t *testing.T, e *pgtest.Etcd) []int {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var out []int
	for i, m := range e.Members {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		if err != nil {
			t.Fatalf("status of %s: %v", m.Name, err)
		}
		if st.Header.MemberId != st.Leader {
			out = append(out, i)
		}
	}
	if len(out) != 2 {
		t.Fatalf("followers %v, want two", out)
	}
	return out
}

// TestQuorumLoss: with three members, one killed changes nothing (every
// renewal succeeds before the self-fence deadline); with two killed the
// renewals fail and the self-fence deadline passes without a successful
// one, so the holder would fence.
func TestQuorumLoss(t *testing.T) {
	e := pgtest.StartEtcd(t, 3)
	c := connect(t, e.Endpoints())
	ctx := context.Background()
	l := grant(t, c)
	if _, err := c.TakeLeader(ctx, l, "node-a", 1); err != nil {
		t.Fatal(err)
	}
	fs := followers(t, e)

	if err := e.Members[fs[0]].Kill(); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(ttl / 6) // the holder's renewal interval
	defer tick.Stop()
	for range 8 {
		<-tick.C
		if time.Now().After(l.SelfFenceDeadline()) {
			t.Fatal("with one member down the self-fence deadline passed")
		}
		if err := l.Renew(ctx); err != nil {
			t.Fatalf("renewal with one member down: %v", err)
		}
	}

	if err := e.Members[fs[1]].Kill(); err != nil {
		t.Fatal(err)
	}
	// The remaining member (etcd's raft leader) may renew until it notices
	// it lost its quorum (an election timeout, 1 s); after that every
	// renewal fails and the self-fence deadline passes.
	giveUp := time.Now().Add(3 * time.Second)
	failed := 0
	for !time.Now().After(l.SelfFenceDeadline()) {
		if time.Now().After(giveUp) {
			t.Fatalf("renewals kept succeeding without a quorum (last sent %v)", l.LastRenewalSent())
		}
		<-tick.C
		if err := l.Renew(ctx); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no renewal failed after the quorum was lost")
	}
	if got := time.Since(l.LastRenewalSent()); got < ttl*2/3 {
		t.Fatalf("deadline passed only %s after the last renewal sent", got)
	}
	if _, err := c.ReadLeader(ctx); err == nil {
		t.Fatal("reading the leader without a quorum succeeded")
	}
}
