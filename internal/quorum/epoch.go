package quorum

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Epoch is the epoch key: the highest epoch any node has led the pair in,
// and who took it. It has no lease, so it outlives the leader key: a claim
// whose answer was lost can be finished after its lease expired, and a
// holder can never take the key back in an epoch the pair has left.
// Every write of the leader key rewrites it in the same transaction, so
// its revision changes with every new leader: a claim compares the one it
// read when it decided, and a claim delivered late, after the key was
// taken and lost again, fails.
type Epoch struct {
	Leader
	Revision int64 // the epoch key's ModRevision; 0 when absent
}

// EpochKey is the epoch key's name.
func (c *Client) EpochKey() string { return c.epochKey }

// ReadEpoch reads the epoch key (Revision 0 when no pair ever led here).
func (c *Client) ReadEpoch(ctx context.Context) (Epoch, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.cli.Get(ctx, c.epochKey)
	if err != nil {
		return Epoch{}, fmt.Errorf("reading %s: %w", c.epochKey, err)
	}
	if len(resp.Kvs) == 0 {
		return Epoch{}, nil
	}
	l, err := decodeLeader(resp.Kvs[0].Value)
	if err != nil {
		return Epoch{}, fmt.Errorf("%s: %w", c.epochKey, err)
	}
	return Epoch{Leader: l, Revision: resp.Kvs[0].ModRevision}, nil
}

// Claim is the takeover (SPEC §9 rule 3): node, in epoch from, takes the
// leader key in epoch from+1, bound to lease, provided the epoch key is
// still exactly seen (as read when the node decided) and says either epoch
// from (the leader it followed) or from+1 taken by node itself (its own
// claim, whose answer or lease was lost). A leader key already naming node
// in from+1 is rebound to lease. ErrLeaderExists when someone else holds
// the key; ErrEpochMoved when the epoch key changed or moved past.
func (c *Client) Claim(ctx context.Context, lease *Lease, node string, from int64, seen Epoch) (Held, error) {
	l := Leader{Node: node, Epoch: from + 1}
	mine := seen.Epoch == from+1 && seen.Node == node
	if seen.Revision == 0 || (seen.Epoch != from && !mine) {
		return Held{}, fmt.Errorf("claiming %s for %s in epoch %d: the epoch key says %s in %d: %w",
			c.leaderKey, node, from+1, seen.Node, seen.Epoch, ErrEpochMoved)
	}
	held, err := c.putLeader(ctx, lease, l, seen)
	if err != nil {
		return Held{}, fmt.Errorf("claiming %s for %s in epoch %d: %w", c.leaderKey, node, from+1, err)
	}
	return held, nil
}

// Regain gives node the leader key back in its own epoch, bound to a new
// lease (a restart, a self-fence that outlasted a short etcd outage): only
// while the epoch key still names node in epoch, and the key is absent or
// already node's. ErrEpochMoved when the pair moved on (another node took
// a later epoch); ErrLeaderExists when someone else holds the key.
func (c *Client) Regain(ctx context.Context, lease *Lease, node string, epoch int64) (Held, error) {
	seen, err := c.ReadEpoch(ctx)
	if err != nil {
		return Held{}, err
	}
	if seen.Revision == 0 || seen.Epoch != epoch || seen.Node != node {
		return Held{}, fmt.Errorf("regaining %s for %s in epoch %d: the epoch key says %s in %d: %w",
			c.leaderKey, node, epoch, seen.Node, seen.Epoch, ErrEpochMoved)
	}
	held, err := c.putLeader(ctx, lease, Leader{Node: node, Epoch: epoch}, seen)
	if err != nil {
		return Held{}, fmt.Errorf("regaining %s for %s in epoch %d: %w", c.leaderKey, node, epoch, err)
	}
	return held, nil
}

// putLeader writes l as the leader key bound to lease, and the epoch key,
// if the epoch key is still seen and the leader key is absent or already
// l (then rebound to lease).
func (c *Client) putLeader(ctx context.Context, lease *Lease, l Leader, seen Epoch) (Held, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	epochSame := clientv3.Compare(clientv3.ModRevision(c.epochKey), "=", seen.Revision)
	puts := []clientv3.Op{clientv3.OpPut(c.leaderKey, l.encode(), clientv3.WithLease(lease.id)), clientv3.OpPut(c.epochKey, l.encode())}
	resp, err := c.cli.Txn(ctx).
		If(epochSame, clientv3.Compare(clientv3.CreateRevision(c.leaderKey), "=", 0)).
		Then(puts...).
		Else(clientv3.OpGet(c.leaderKey), clientv3.OpGet(c.epochKey)).
		Commit()
	if err != nil {
		return Held{}, err
	}
	if resp.Succeeded {
		return Held{Leader: l, Revision: resp.Header.Revision}, nil
	}
	// Not absent, or the epoch key changed: which?
	lead, ep := resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange()
	if len(ep.Kvs) == 0 || ep.Kvs[0].ModRevision != seen.Revision {
		return Held{}, fmt.Errorf("the epoch key changed since it was read (revision %d): %w", seen.Revision, ErrEpochMoved)
	}
	if len(lead.Kvs) == 0 {
		return Held{}, errors.New("the leader key changed under the transaction; try again")
	}
	if string(lead.Kvs[0].Value) != l.encode() {
		return Held{}, fmt.Errorf("held as %s: %w", lead.Kvs[0].Value, ErrLeaderExists)
	}
	// Already ours: rebind to the new lease, compared by value and
	// revision.
	resp, err = c.cli.Txn(ctx).
		If(epochSame, clientv3.Compare(clientv3.Value(c.leaderKey), "=", l.encode()),
			clientv3.Compare(clientv3.ModRevision(c.leaderKey), "=", lead.Kvs[0].ModRevision)).
		Then(puts...).
		Commit()
	if err != nil {
		return Held{}, err
	}
	if !resp.Succeeded {
		return Held{}, fmt.Errorf("the leader key changed while it was rebound: %w", ErrEpochMoved)
	}
	return Held{Leader: l, Revision: resp.Header.Revision}, nil
}
