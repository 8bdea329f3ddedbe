package switchover

import (
	"context"
	"fmt"
	"time"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/replication"
)

// quorum says whether the node runs with a quorum (SPEC §9).
func (d *Driver) quorum() bool { return len(d.conf().Quorum.Endpoints) > 0 }

// selfFenceBudget bounds the self-fence: it must be done before etcd can
// expire the lease, a third of the TTL after the self-fence deadline.
func (d *Driver) selfFenceBudget() time.Duration {
	if ttl := d.conf().Quorum.LeaseTTL; ttl > 0 {
		return ttl / 3
	}
	return time.Second
}

// actSelfFence (SPEC §9 rule 2): the database fenced as in a switchover
// (no marker), client sessions ended, the VIP released, the service
// stopped. Each part is tried once within the budget; the reconcile loop
// keeps a SELF_FENCED node fenced and without the VIP afterwards.
func (d *Driver) actSelfFence(ctx context.Context) {
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, d.selfFenceBudget())
	defer cancel()
	rep, err := d.LocalDB().Fence(fctx)
	if err != nil {
		d.Logger().Error().Err(err).Msg("self-fence: fencing the database")
	}
	if err := d.env.ReleaseVIP(fctx); err != nil {
		d.Logger().Error().Err(err).Msg("self-fence: releasing the VIP")
	}
	if err := d.env.StopService(ctx); err != nil {
		d.Logger().Error().Err(err).Msg("self-fence: stopping the service")
	}
	d.env.RefreshDB()
	d.Logger().Warn().Int("terminated", rep.Terminated).Dur("took", time.Since(start)).Str("reason", d.reason()).
		Msg("self-fenced: this node takes no writes until the leader key is its own again")
}

// peerFenceBudget bounds the attempt to fence the old active's database
// during a takeover: a silent host must not push the takeover past its
// target (SPEC §9 rule 3).
const peerFenceBudget = 500 * time.Millisecond

// actTakeOver (SPEC §9 rule 3) runs once the leader key is this node's in
// the new epoch: the old active's database fenced if it answers, the
// applier stopped, every sequence carried past what the old active may have
// handed out, the reverse slot, writable, the VIP and the service. Every
// part is idempotent and the node never gives back: a failure is retried.
func (d *Driver) actTakeOver(ctx context.Context) (handshake.Event, bool) {
	id := d.switchID()
	lsn, err := d.takeOver(ctx)
	if err != nil {
		d.Logger().Error().Err(err).Msg("taking over failed; retrying")
		select {
		case <-ctx.Done():
			return handshake.Event{}, false
		case <-time.After(time.Second):
		}
		return handshake.Event{Kind: handshake.EvFailed, SwitchID: id, Reason: err.Error()}, true
	}
	return handshake.Event{Kind: handshake.EvTakenOver, SwitchID: id, ReverseLSN: lsn.String()}, true
}

func (d *Driver) takeOver(ctx context.Context) (replication.LSN, error) {
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, peerFenceBudget)
	rep, fenceErr := d.PeerDB().Fence(fctx)
	cancel()
	if fenceErr != nil {
		d.Logger().Warn().Err(fenceErr).Str("peer", d.conf().Peer.Name).Dur("budget", peerFenceBudget).
			Msg("takeover: the old active's database does not answer; going on (its own daemon self-fences)")
	} else {
		d.Logger().Info().Str("peer", d.conf().Peer.Name).Int("terminated", rep.Terminated).
			Msg("takeover: the old active's database answered and is fenced")
	}
	return d.becomeActive(ctx, start, func(c context.Context) (int, error) {
		if fenceErr == nil {
			if seqs, err := d.LocalDB().CopySequences(c, d.PeerDB()); err == nil {
				return len(seqs), nil
			}
		}
		// The old active cannot be asked: the positions it published
		// in the quorum, which carry a margin for what it handed out
		// since.
		pub, err := d.env.PublishedSequences(c)
		if err != nil {
			return 0, fmt.Errorf("reading the published sequence positions: %w", err)
		}
		seqs, err := d.LocalDB().RaiseSequences(c, pub)
		if err != nil {
			return 0, err
		}
		// And past every row replication brought, whatever was
		// handed out after the last publication.
		more, err := d.LocalDB().RaiseSequencesToData(c)
		return len(seqs) + len(more), err
	})
}
