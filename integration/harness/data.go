package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/pgswitch/pgswitch/internal/replication"
)

// Hash is a content hash of a table on n: every row's text, sorted.
func (p *Pair) Hash(ctx context.Context, n *Node, table string) (string, error) {
	return n.Cluster.QueryString(ctx, DB, fmt.Sprintf(
		"SELECT coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), 'empty') || ':' || count(*) FROM %s t", table))
}

// WALPosition is n's current WAL position.
func (p *Pair) WALPosition(ctx context.Context, n *Node) (replication.LSN, error) {
	s, err := n.Cluster.QueryString(ctx, DB, "SELECT pg_current_wal_lsn()::text")
	if err != nil {
		return 0, err
	}
	return replication.ParseLSN(s)
}

// Replayed is how far the standby's applier has replayed, by its status.
func (p *Pair) Replayed(ctx context.Context, standby *Node) (replication.LSN, error) {
	st, err := p.Status(ctx, standby)
	if err != nil {
		return 0, err
	}
	if st.Replication == nil {
		return 0, fmt.Errorf("%s reports no replication (state %s)", standby.Name, st.State)
	}
	return replication.ParseLSN(st.Replication.ReplayedLSN)
}

// WaitCaughtUp waits until the standby has replayed everything the active
// had written when it was called.
func (p *Pair) WaitCaughtUp(ctx context.Context, active, standby *Node) error {
	target, err := p.WALPosition(ctx, active)
	if err != nil {
		return err
	}
	return waitFor(ctx, fmt.Sprintf("%s to replay up to %s", standby.Name, target), func() (bool, error) {
		got, err := p.Replayed(ctx, standby)
		return err == nil && got >= target, err
	})
}

// WaitStreaming waits (at most a minute) until n is a STANDBY whose
// applier streams; with healthy, also one without faults.
func (p *Pair) WaitStreaming(ctx context.Context, n *Node, healthy bool) error {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return waitFor(wctx, n.Name+" to stream as STANDBY", func() (bool, error) {
		st, err := p.Status(wctx, n)
		if err != nil {
			return false, err
		}
		return st.State == "STANDBY" && st.Replication != nil && st.Replication.Streaming &&
			(!healthy || len(st.Faults) == 0), nil
	})
}

// SameData compares tables between the nodes and names the first that
// differs.
func (p *Pair) SameData(ctx context.Context, tables ...string) error {
	for _, t := range tables {
		a, err := p.Hash(ctx, p.Nodes[0], t)
		if err != nil {
			return err
		}
		b, err := p.Hash(ctx, p.Nodes[1], t)
		if err != nil {
			return err
		}
		if a != b {
			return fmt.Errorf("table %s differs: %s on %s, %s on %s", t, a, p.Nodes[0].Name, b, p.Nodes[1].Name)
		}
	}
	return nil
}
