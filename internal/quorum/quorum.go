package quorum

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/pgswitch/pgswitch/internal/config"
)

// Errors that change a decision; test them with errors.Is.
var (
	// ErrLeaderExists: the leader key is held, so it cannot be taken.
	ErrLeaderExists = errors.New("the leader key is held")
	// ErrNotLeader: the leader key is not (or no longer) the one the caller
	// holds or expected: a handover or a guarded write was refused.
	ErrNotLeader = errors.New("not the leader key's current holder")
	// ErrLostLease: etcd no longer knows the lease; the holder must fence.
	ErrLostLease = errors.New("the lease is gone")
	// ErrEpochMoved: the epoch key is not what the caller read or may
	// act on: someone took the key since, or the pair moved to a later
	// epoch without this node.
	ErrEpochMoved = errors.New("the pair's epoch moved")
)

// Settings are what the package needs from section quorum.
type Settings struct {
	Endpoints []string
	Cluster   string
	Prefix    string
	LeaseTTL  time.Duration
	TLSCA     string
	TLSCert   string
	TLSKey    string
}

// FromConfig takes the settings from a validated configuration.
func FromConfig(q config.QuorumConfig) Settings {
	return Settings{Endpoints: q.Endpoints, Cluster: q.Cluster, Prefix: q.Prefix, LeaseTTL: q.LeaseTTL,
		TLSCA: q.TLSCA, TLSCert: q.TLSCert, TLSKey: q.TLSKey}
}

// Client is a connection to the quorum and the pair's keys in it.
type Client struct {
	cli       *clientv3.Client
	s         Settings
	leaderKey string
	epochKey  string
	syncKey   string
	seqKey    string
}

// callTimeout bounds a call that has no deadline of its own: a third of
// the lease, so that a hung call never outlasts the self-fence margin.
func (s Settings) callTimeout() time.Duration { return s.LeaseTTL / 3 }

// New connects (lazily: no call is made) to the quorum.
func New(s Settings) (*Client, error) {
	if len(s.Endpoints) == 0 {
		return nil, errors.New("connecting to the quorum: no endpoints")
	}
	if s.LeaseTTL < 2*time.Second {
		return nil, fmt.Errorf("connecting to the quorum: lease ttl %s is below etcd's 2s minimum", s.LeaseTTL)
	}
	var tlsCfg *tls.Config
	if s.TLSCA != "" {
		var err error
		tlsCfg, err = transport.TLSInfo{CertFile: s.TLSCert, KeyFile: s.TLSKey, TrustedCAFile: s.TLSCA}.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("connecting to the quorum: TLS: %w", err)
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   s.Endpoints,
		DialTimeout: s.callTimeout(),
		TLS:         tlsCfg,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to the quorum %v: %w", s.Endpoints, err)
	}
	base := s.Prefix + s.Cluster + "/"
	return &Client{cli: cli, s: s, leaderKey: base + "leader", epochKey: base + "epoch", syncKey: base + "sync", seqKey: base + "seq"}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.cli.Close() }

// LeaderKey is the leader key's name.
func (c *Client) LeaderKey() string { return c.leaderKey }

// call bounds ctx by the call timeout.
func (c *Client) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.s.callTimeout())
}

// Leader is the leader key's value: who holds it and the pair's epoch.
type Leader struct {
	Node  string `json:"node"`
	Epoch int64  `json:"epoch"`
}

func (l Leader) encode() string {
	b, _ := json.Marshal(l) // a struct of a string and an int always encodes
	return string(b)
}

func decodeLeader(v []byte) (Leader, error) {
	var l Leader
	if err := json.Unmarshal(v, &l); err != nil {
		return Leader{}, fmt.Errorf("decoding the leader key %q: %w", v, err)
	}
	if l.Node == "" {
		return Leader{}, fmt.Errorf("decoding the leader key %q: no node", v)
	}
	return l, nil
}

// Held is the leader key as its holder wrote it: the value and the
// revision that guard every later write of the holder.
type Held struct {
	Leader
	Revision int64 // the leader key's ModRevision after the holder's write
}

// State is the leader key as read.
type State struct {
	Present bool
	Leader
	Revision int64         // ModRevision
	TTLLeft  time.Duration // the lease's remaining time, as etcd counts it
}

// ReadLeader reads the leader key and its lease's remaining time.
func (c *Client) ReadLeader(ctx context.Context) (State, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.cli.Get(ctx, c.leaderKey)
	if err != nil {
		return State{}, fmt.Errorf("reading %s: %w", c.leaderKey, err)
	}
	if len(resp.Kvs) == 0 {
		return State{}, nil
	}
	kv := resp.Kvs[0]
	l, err := decodeLeader(kv.Value)
	if err != nil {
		return State{}, err
	}
	st := State{Present: true, Leader: l, Revision: kv.ModRevision}
	if kv.Lease != 0 {
		ttl, err := c.cli.TimeToLive(ctx, clientv3.LeaseID(kv.Lease))
		if err != nil {
			return State{}, fmt.Errorf("reading the lease of %s: %w", c.leaderKey, err)
		}
		st.TTLLeft = time.Duration(max(ttl.TTL, 0)) * time.Second
	}
	return st, nil
}

// TakeLeader is the pair's first leader (pgswitch init): it writes the
// leader key naming node with epoch, bound to lease, and the epoch key,
// only if the leader key is absent; ErrLeaderExists if it is held. Every
// later change of leader is Handover, Claim or Regain, which compare the
// epoch key.
func (c *Client) TakeLeader(ctx context.Context, lease *Lease, node string, epoch int64) (Held, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	l := Leader{Node: node, Epoch: epoch}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(c.leaderKey), "=", 0)).
		Then(clientv3.OpPut(c.leaderKey, l.encode(), clientv3.WithLease(lease.id)),
			clientv3.OpPut(c.epochKey, l.encode())).
		Commit()
	if err != nil {
		return Held{}, fmt.Errorf("taking %s for %s (epoch %d): %w", c.leaderKey, node, epoch, err)
	}
	if !resp.Succeeded {
		return Held{}, fmt.Errorf("taking %s for %s (epoch %d): %w", c.leaderKey, node, epoch, ErrLeaderExists)
	}
	return Held{Leader: l, Revision: resp.Header.Revision}, nil
}

// Handover is the planned switchover's change of leader, run by the new
// holder with its own lease: one transaction that compares the key's value
// and revision with old (as the old holder wrote it, read by the new holder
// or passed over the peer channel) and writes newNode with old's epoch+1
// bound to lease. ErrNotLeader when the key is no longer exactly old.
func (c *Client) Handover(ctx context.Context, lease *Lease, old Held, newNode string) (Held, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	l := Leader{Node: newNode, Epoch: old.Epoch + 1}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(c.leaderKey), "=", old.encode()),
			clientv3.Compare(clientv3.ModRevision(c.leaderKey), "=", old.Revision)).
		Then(clientv3.OpPut(c.leaderKey, l.encode(), clientv3.WithLease(lease.id)),
			clientv3.OpPut(c.epochKey, l.encode())).
		Commit()
	if err != nil {
		return Held{}, fmt.Errorf("handing %s over from %s to %s: %w", c.leaderKey, old.Node, newNode, err)
	}
	if !resp.Succeeded {
		return Held{}, fmt.Errorf("handing %s over from %s (epoch %d, revision %d) to %s: %w",
			c.leaderKey, old.Node, old.Epoch, old.Revision, newNode, ErrNotLeader)
	}
	return Held{Leader: l, Revision: resp.Header.Revision}, nil
}

// guardedPut writes key (or deletes it when value is nil) only while the
// leader key is still held's.
func (c *Client) guardedPut(ctx context.Context, held Held, key string, value []byte) error {
	ctx, cancel := c.call(ctx)
	defer cancel()
	op := clientv3.OpDelete(key)
	if value != nil {
		op = clientv3.OpPut(key, string(value))
	}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(c.leaderKey), "=", held.Revision)).
		Then(op).Commit()
	if err != nil {
		return fmt.Errorf("writing %s as %s: %w", key, held.Node, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("writing %s as %s (revision %d): %w", key, held.Node, held.Revision, ErrNotLeader)
	}
	return nil
}

// Sync is the sync key: the standbys the leader's commits wait for, each
// holding every commit acknowledged before, as the leader of Epoch wrote
// it. A standby proves it may take over only with a key of the epoch that
// was lost: one left from an earlier epoch says nothing of this one.
type Sync struct {
	Leader   string   `json:"leader"`
	Epoch    int64    `json:"epoch"`
	Standbys []string `json:"standbys"`
}

// SetSync names the standbys that commits wait for and that hold every
// acknowledged commit; only the current leader may write it.
func (c *Client) SetSync(ctx context.Context, held Held, standbys []string) error {
	b, err := json.Marshal(Sync{Leader: held.Node, Epoch: held.Epoch, Standbys: standbys})
	if err != nil {
		return fmt.Errorf("encoding %s: %w", c.syncKey, err)
	}
	return c.guardedPut(ctx, held, c.syncKey, b)
}

// ClearSync removes the sync key (before commits stop waiting for the
// standby); only the current leader may.
func (c *Client) ClearSync(ctx context.Context, held Held) error {
	return c.guardedPut(ctx, held, c.syncKey, nil)
}

// ReadSync returns the standbys named in the sync key (nil when absent).
func (c *Client) ReadSync(ctx context.Context) ([]string, error) {
	s, err := c.ReadSyncKey(ctx)
	return s.Standbys, err
}

// ReadSyncKey returns the sync key (zero when absent).
func (c *Client) ReadSyncKey(ctx context.Context) (Sync, error) {
	var v Sync
	_, err := c.get(ctx, c.syncKey, &v)
	return v, err
}

// PublishSeq publishes the sequences' positions (name → value the active
// may have handed out up to); only the current leader may.
func (c *Client) PublishSeq(ctx context.Context, held Held, seqs map[string]int64) error {
	b, err := json.Marshal(seqs)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", c.seqKey, err)
	}
	return c.guardedPut(ctx, held, c.seqKey, b)
}

// ReadSeq returns the published sequence positions (nil when absent).
func (c *Client) ReadSeq(ctx context.Context) (map[string]int64, error) {
	var v map[string]int64
	if _, err := c.get(ctx, c.seqKey, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func (c *Client) get(ctx context.Context, key string, into any) (bool, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.cli.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, into); err != nil {
		return false, fmt.Errorf("decoding %s: %w", key, err)
	}
	return true, nil
}
