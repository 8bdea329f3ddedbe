package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/slots"
	"github.com/pgswitch/pgswitch/internal/supervise"
)

// watchSlots (every 30 supervision intervals) looks for replication slots on the local database that no
// node uses: they keep WAL forever. Inactive slots that pgswitch owns
// (pgswitch_…) and does not need in the node's current role are dropped;
// anyone else's are reported as the fault stray_slot and left alone.
func (d *Daemon) watchSlots(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(30 * d.conf().Supervision.Interval):
		}
		st := d.state()
		if !handshake.WantOf(st).SweepSlots {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
		report, err := d.sweepSlots(qctx, st)
		cancel()
		if err != nil {
			d.logger().Warn().Err(err).Msg("looking for unused replication slots")
			continue
		}
		d.note(supervise.StraySlot, report, report != "", 0)
	}
}

func (d *Daemon) sweepSlots(ctx context.Context, st handshake.State) (string, error) {
	all, err := d.localDB().Slots(ctx)
	if err != nil {
		return "", err
	}
	keep := ""
	if handshake.WantOf(st).KeepsPeerSlot {
		keep = d.conf().PeerSlotName()
	}
	drop, stray := slots.Plan(all, keep)
	for _, s := range drop {
		unlock, ok := d.drv.LockSlotsIn(st)
		if !ok {
			return "", nil
		}
		d.logger().Warn().Str("slot", s.Name).Int64("retained_bytes", s.Retained).Msg("dropping a pgswitch slot that no node uses")
		err := d.localDB().DropSlot(ctx, s.Name)
		unlock()
		if err != nil {
			return "", fmt.Errorf("dropping slot %s: %w", s.Name, err)
		}
	}
	return slots.Report(stray), nil
}
