package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/state"
)

// divergenceRetry is how long an examination that could not finish waits
// before the next.
const divergenceRetry = 5 * time.Second

// considerDivergence starts, at most one at a time and at most every
// divergenceRetry, the examination of an old active behind the later epoch
// the quorum names (SPEC §9 rule 5).
func (d *Daemon) considerDivergence(epoch uint64) {
	l := d.lead
	rec := d.drv.Record()
	if rec.State != handshake.SelfFenced || epoch <= rec.Epoch ||
		(rec.Divergence != nil && rec.Divergence.Epoch == epoch) || time.Since(l.lastExamined) < divergenceRetry {
		return
	}
	if !l.examining.CompareAndSwap(false, true) {
		return
	}
	l.lastExamined = time.Now()
	if !d.goOwned(func() {
		defer l.examining.Store(false)
		ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
		defer cancel()
		if err := d.examineDivergence(ctx, epoch); err != nil {
			d.logger().Warn().Err(err).Uint64("epoch", epoch).Msg("comparing this node's transactions with the new active's; will try again")
		}
	}) {
		l.examining.Store(false)
	}
}

// examineDivergence works out exactly which of this node's committed
// transactions the new active never applied: those its slot for the new
// active still holds past the position the new active's origin recorded
// for this node. None: it follows the new active from its reverse slot, as
// STANDBY, without a re-copy. Some: they go to lost-<epoch>.jsonl in the
// state directory, the record says so, and the node stays SELF_FENCED
// until pgswitch rejoin.
func (d *Daemon) examineDivergence(ctx context.Context, epoch uint64) error {
	cfg := d.conf()
	peer := d.drv.PeerDB()
	applied, ok, err := peer.OriginPosition(ctx, cfg.PeerOriginName())
	if err != nil {
		return fmt.Errorf("the new active's origin for this node: %w", err)
	}
	if !ok {
		return fmt.Errorf("the new active %s has no position in origin %s", cfg.Peer.Name, cfg.PeerOriginName())
	}
	rev, found, err := peer.LookupSlot(ctx, cfg.SlotName())
	if err != nil {
		return fmt.Errorf("the new active's reverse slot: %w", err)
	}
	if !found {
		return fmt.Errorf("the new active %s has no slot %s for this node to follow from", cfg.Peer.Name, cfg.SlotName())
	}
	path := filepath.Join(cfg.Node.StateDir, fmt.Sprintf("lost-%d.jsonl", epoch))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("writing the lost-transaction report: %w", err)
	}
	defer os.Remove(tmp)
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	ack := "unknown"
	if cfg.Replication.Synchronous && cfg.Replication.SyncDegradeAfter == 0 {
		// Strict synchronous mode: a commit was acknowledged only once
		// the standby had flushed it, and the standby does not have it.
		ack = "never"
	}
	n, err := d.localDB().PeekLost(ctx, cfg.PeerSlotName(), cfg.Replication.Publication, applied, func(t replication.LostTxn) error {
		t.Acknowledged = ack
		return enc.Encode(t)
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("this node's transactions past %s: %w", applied, err)
	}
	if n == 0 {
		d.logger().Warn().Uint64("epoch", epoch).Str("applied", applied.String()).Str("reverse_lsn", rev.ConfirmedFlush.String()).
			Msg("the new active holds every transaction this node committed: following it")
		d.stepOwned(handshake.Event{Kind: handshake.EvNothingLost, Epoch: epoch, ReverseLSN: rev.ConfirmedFlush.String()})
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the lost-transaction report: %w", err)
	}
	if err := d.drv.SaveRecord(func(r *state.Record) {
		r.Divergence = &state.Divergence{Epoch: epoch, Transactions: n, Report: path}
	}); err != nil {
		return err
	}
	d.logger().Error().Uint64("epoch", epoch).Int("transactions", n).Str("report", path).Str("applied", applied.String()).
		Msg("this node committed transactions the new active never applied; it stays fenced until pgswitch rejoin")
	return nil
}
