package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/sql"
)

// SlotInfo describes a replication slot.
type SlotInfo struct {
	Name, Plugin, Type, Database string
	Active                       bool
	ActivePID                    int32
	ConfirmedFlush, Restart      LSN
	WALStatus                    string
}

// LookupSlot returns the slot, or ok=false when it does not exist.
func LookupSlot(ctx context.Context, conn *pgx.Conn, name string) (SlotInfo, bool, error) {
	var s SlotInfo
	var confirmed, restart string
	err := conn.QueryRow(ctx, sql.Query("slot_info"), name).Scan(&s.Name, &s.Plugin, &s.Type, &s.Database,
		&s.Active, &s.ActivePID, &confirmed, &restart, &s.WALStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("looking up slot %s: %w", name, err)
	}
	s.ConfirmedFlush, _ = pglogrepl.ParseLSN(confirmed)
	s.Restart, _ = pglogrepl.ParseLSN(restart)
	return s, true, nil
}

// EnsureSlot creates a pgoutput slot unless it exists.
func EnsureSlot(ctx context.Context, conn *pgx.Conn, name string) error {
	if _, err := conn.Exec(ctx, sql.Query("slot_create"), name); err != nil {
		return fmt.Errorf("creating slot %s: %w", name, err)
	}
	return nil
}

// DropSlot drops the slot if it exists. A walsender still streaming from it
// is ended first, and the drop is retried until it has gone (bounded by ctx).
func DropSlot(ctx context.Context, conn *pgx.Conn, name string) error {
	for {
		info, ok, err := LookupSlot(ctx, conn, name)
		if err != nil || !ok {
			return err
		}
		if info.Active {
			if _, err := conn.Exec(ctx, sql.Query("slot_walsender_terminate"), name); err != nil {
				return fmt.Errorf("ending the walsender of slot %s: %w", name, err)
			}
		} else if _, err := conn.Exec(ctx, sql.Query("slot_drop"), name); err != nil && pgutil.SQLState(err) != pgutil.ObjectInUse {
			return fmt.Errorf("dropping slot %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dropping slot %s: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CreateSlotNow creates a logical slot over a replication connection and
// returns its consistent point. With exportSnapshot the connection keeps an
// exported snapshot (returned) that stays valid until its next command; the
// caller must keep conn idle while the snapshot is used, then close it.
func CreateSlotNow(ctx context.Context, conn *pgconn.PgConn, name string, exportSnapshot bool) (LSN, string, error) {
	action := "(SNAPSHOT 'nothing')"
	if exportSnapshot {
		action = "(SNAPSHOT 'export')"
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, pgutil.Ident(name), "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: action})
	if err != nil {
		return 0, "", fmt.Errorf("creating slot %s: %w", name, err)
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, "", fmt.Errorf("parsing consistent point %q of slot %s: %w", res.ConsistentPoint, name, err)
	}
	return lsn, res.SnapshotName, nil
}

// EnsureOrigin creates the replication origin unless it exists.
func EnsureOrigin(ctx context.Context, conn *pgx.Conn, name string) error {
	if _, err := conn.Exec(ctx, sql.Query("origin_create"), name); err != nil {
		return fmt.Errorf("creating replication origin %s: %w", name, err)
	}
	return nil
}

// OriginProgress returns the origin's durable position; ok=false when it
// never advanced. A missing origin is an error.
func OriginProgress(ctx context.Context, conn *pgx.Conn, name string) (LSN, bool, error) {
	var pos *string
	if err := conn.QueryRow(ctx, sql.Query("origin_progress"), name).Scan(&pos); err != nil {
		return 0, false, fmt.Errorf("reading progress of replication origin %s: %w", name, err)
	}
	if pos == nil {
		return 0, false, nil
	}
	lsn, err := pglogrepl.ParseLSN(*pos)
	if err != nil {
		return 0, false, fmt.Errorf("parsing origin progress %q: %w", *pos, err)
	}
	return lsn, lsn != 0, nil
}

// AdvanceOrigin sets the origin's position.
func AdvanceOrigin(ctx context.Context, conn *pgx.Conn, name string, lsn LSN) error {
	if _, err := conn.Exec(ctx, sql.Query("origin_advance"), name, lsn.String()); err != nil {
		return fmt.Errorf("advancing replication origin %s to %s: %w", name, lsn, err)
	}
	return nil
}
