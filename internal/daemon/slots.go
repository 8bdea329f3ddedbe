package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
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
		d.note(FaultStraySlot, report, report != "", 0)
	}
}

func (d *Daemon) sweepSlots(ctx context.Context, st handshake.State) (string, error) {
	conn, err := pgutil.Connect(ctx, d.conf().Postgres.DSN, pgutil.Options{AppName: d.conf().ApplicationName() + "_admin"})
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT slot_name::text, active,
		coalesce(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn), 0)::bigint
		FROM pg_catalog.pg_replication_slots`)
	if err != nil {
		return "", err
	}
	type slot struct {
		name     string
		active   bool
		retained int64
	}
	slots, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (slot, error) {
		var s slot
		err := r.Scan(&s.name, &s.active, &s.retained)
		return s, err
	})
	if err != nil {
		return "", err
	}
	var stray []string
	for _, s := range slots {
		if s.active || (st == handshake.Active && s.name == d.conf().PeerSlotName()) {
			continue
		}
		if strings.HasPrefix(s.name, "pgswitch_") {
			if !d.sweepAllowed(st) {
				return "", nil
			}
			d.logger().Warn().Str("slot", s.name).Int64("retained_bytes", s.retained).Msg("dropping a pgswitch slot that no node uses")
			_, err := conn.Exec(ctx, "SELECT pg_catalog.pg_drop_replication_slot($1)", s.name)
			d.slotMu.Unlock()
			if err != nil {
				return "", fmt.Errorf("dropping slot %s: %w", s.name, err)
			}
			continue
		}
		stray = append(stray, fmt.Sprintf("%s (inactive, retains %d bytes of WAL)", s.name, s.retained))
	}
	if len(stray) == 0 {
		return "", nil
	}
	return "slots no node uses: " + strings.Join(stray, ", "), nil
}

// sweepAllowed takes slotMu (released by the caller after the drop) and
// reports whether the state is still the one the sweep looked in: a
// switch-in may have begun meanwhile and created the reverse slot.
func (d *Daemon) sweepAllowed(st handshake.State) bool {
	d.slotMu.Lock()
	if d.state() != st {
		d.slotMu.Unlock()
		return false
	}
	return true
}
