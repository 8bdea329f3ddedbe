package dbrole

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/sql"
)

// SequenceCopy is one sequence carried to the new active.
type SequenceCopy struct {
	Name     string
	From, To int64
}

// Sequences reads the last value handed out by every sequence that was
// ever used, by its qualified (quoted) name; with unused, a sequence never
// used yet is there too, as 0.
func (d *DB) Sequences(ctx context.Context, unused bool) (map[string]int64, error) {
	out := map[string]int64{}
	err := d.with(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, sql.Query("sequences"))
		if err != nil {
			return fmt.Errorf("reading sequences: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var schema, name string
			var last *int64
			if err := rows.Scan(&schema, &name, &last); err != nil {
				return fmt.Errorf("reading sequences: %w", err)
			}
			switch {
			case last != nil:
				out[pgutil.Qualified(schema, name)] = *last
			case unused:
				out[pgutil.Qualified(schema, name)] = 0
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CopySequences sets every sequence of this database to at least the value
// it has on the old active (sequences are not replicated). A sequence that
// was never used on the old active is left alone; one missing here is an
// error (schema drift).
func (d *DB) CopySequences(ctx context.Context, oldActive *DB) ([]SequenceCopy, error) {
	src, err := oldActive.Sequences(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("the old active: %w", err)
	}
	return d.RaiseSequences(ctx, src)
}

// RaiseSequences sets each sequence named in at (by qualified name) to at
// least that value; setval only moves forwards, so a value already higher
// here (a retried switch-in) is kept.
func (d *DB) RaiseSequences(ctx context.Context, at map[string]int64) ([]SequenceCopy, error) {
	var out []SequenceCopy
	err := d.with(ctx, func(conn *pgx.Conn) error {
		for q, v := range at {
			var now int64
			err := conn.QueryRow(ctx, fmt.Sprintf(
				`SELECT pg_catalog.setval(%s, GREATEST($1::bigint, coalesce((SELECT last_value FROM %s WHERE is_called), $1::bigint)), true)`,
				pgutil.Literal(q), q), v).Scan(&now)
			if err != nil {
				return fmt.Errorf("setting sequence %s: %w", q, err)
			}
			out = append(out, SequenceCopy{Name: q, From: v, To: now})
		}
		return nil
	})
	slices.SortFunc(out, func(a, b SequenceCopy) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// CreateReverseSlot creates the slot the old active will stream from, at
// this exact point, and returns its consistent point. It must run after the
// applier stopped and before any client can write. A slot of that name that
// exists already is returned as it is (its confirmed position): the caller
// must have made sure it belongs to this switch-in (created by an earlier
// try of it, before the database became writable, so nothing is skipped) by
// dropping any other first — see the daemon's reverse slot step.
func (d *DB) CreateReverseSlot(ctx context.Context, slot string) (replication.LSN, error) {
	existing, found, err := d.LookupSlot(ctx, slot)
	if err != nil {
		return 0, err
	}
	if found {
		return existing.ConfirmedFlush, nil
	}
	conn, err := pgutil.ConnectPg(ctx, d.DSN, pgutil.Options{AppName: d.AppName + "_admin", Replication: true})
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	lsn, _, err := replication.CreateSlotNow(ctx, conn, slot, false)
	return lsn, err
}

// LookupSlot reads a slot of this database; found is false when there is none.
func (d *DB) LookupSlot(ctx context.Context, slot string) (info replication.SlotInfo, found bool, err error) {
	err = d.with(ctx, func(conn *pgx.Conn) error {
		var err error
		info, found, err = replication.LookupSlot(ctx, conn, slot)
		return err
	})
	return info, found, err
}

// SlotUse is a replication slot of this database and the WAL it retains.
type SlotUse struct {
	Name     string
	Active   bool
	Retained int64 // bytes of WAL from its restart point to the write position
}

// Slots lists the replication slots of this database cluster.
func (d *DB) Slots(ctx context.Context) ([]SlotUse, error) {
	var out []SlotUse
	err := d.with(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT slot_name::text, active,
			coalesce(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn), 0)::bigint
			FROM pg_catalog.pg_replication_slots`)
		if err != nil {
			return fmt.Errorf("listing replication slots: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (SlotUse, error) {
			var s SlotUse
			err := r.Scan(&s.Name, &s.Active, &s.Retained)
			return s, err
		})
		return err
	})
	return out, err
}

// DropSlot drops a slot on this database (ending its walsender first).
func (d *DB) DropSlot(ctx context.Context, slot string) error {
	return d.with(ctx, func(conn *pgx.Conn) error { return replication.DropSlot(ctx, conn, slot) })
}

// Follow prepares this database to stream from the new active: the origin
// (created if missing) is set to the reverse slot's consistent point.
func (d *DB) Follow(ctx context.Context, origin string, from replication.LSN) error {
	return d.with(ctx, func(conn *pgx.Conn) error {
		if err := replication.EnsureOrigin(ctx, conn, origin); err != nil {
			return err
		}
		return replication.AdvanceOrigin(ctx, conn, origin, from)
	})
}

// RaiseSequencesToData carries every sequence that feeds an integer column
// (serial, identity, OWNED BY, or a DEFAULT calling nextval) past the
// largest value in that column here, so that no insert on a new active
// fails on a row replication brought: the old active may have handed out
// values it never published before it was lost.
func (d *DB) RaiseSequencesToData(ctx context.Context) ([]SequenceCopy, error) {
	var out []SequenceCopy
	err := d.with(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, sql.Query("sequence_columns"))
		if err != nil {
			return fmt.Errorf("listing the columns sequences feed: %w", err)
		}
		type use struct{ seq, table, col string }
		uses, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (use, error) {
			var u use
			err := r.Scan(&u.seq, &u.table, &u.col)
			return u, err
		})
		if err != nil {
			return fmt.Errorf("listing the columns sequences feed: %w", err)
		}
		for _, u := range uses {
			var top *int64
			if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT max(%s)::bigint FROM %s", u.col, u.table)).Scan(&top); err != nil {
				return fmt.Errorf("reading the largest %s of %s: %w", u.col, u.table, err)
			}
			if top == nil {
				continue
			}
			var now int64
			if err := conn.QueryRow(ctx, fmt.Sprintf(
				`SELECT pg_catalog.setval(%s, GREATEST($1::bigint, coalesce((SELECT last_value FROM %s WHERE is_called), $1::bigint)), true)`,
				pgutil.Literal(u.seq), u.seq), *top).Scan(&now); err != nil {
				return fmt.Errorf("setting sequence %s: %w", u.seq, err)
			}
			out = append(out, SequenceCopy{Name: u.seq, From: *top, To: now})
		}
		return nil
	})
	return out, err
}

// OriginPosition is the end of the last source transaction applied through
// the replication origin here; found is false when the origin is missing
// or has applied nothing.
func (d *DB) OriginPosition(ctx context.Context, origin string) (lsn replication.LSN, found bool, err error) {
	err = d.with(ctx, func(conn *pgx.Conn) error {
		var s *string
		if err := conn.QueryRow(ctx, sql.Query("origin_position"), origin).Scan(&s); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return fmt.Errorf("reading origin %s: %w", origin, err)
		}
		if s == nil {
			return nil
		}
		var err error
		lsn, err = replication.ParseLSN(*s)
		found = err == nil
		return err
	})
	return lsn, found, err
}

// PeekLost is replication.PeekLost on this database.
func (d *DB) PeekLost(ctx context.Context, slot, publication string, applied replication.LSN, emit func(replication.LostTxn) error) (int, error) {
	var n int
	err := d.with(ctx, func(conn *pgx.Conn) error {
		var err error
		n, err = replication.PeekLost(ctx, conn, slot, publication, applied, emit)
		return err
	})
	return n, err
}
