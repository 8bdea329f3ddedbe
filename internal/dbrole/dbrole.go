package dbrole

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/sql"
)

// DB is one node's database as pgswitch administers it.
type DB struct {
	DSN     string
	AppName string // application_name prefix of pgswitch's sessions
	Log     zerolog.Logger
	// SystemID, when set, is the system identifier recorded for this
	// database at init: every session verifies it before anything is
	// done (Which, "local" or "peer", names the database in the error).
	SystemID string
	Which    string
}

func (d *DB) connect(ctx context.Context) (*pgx.Conn, error) {
	// synchronous_commit = local: pgswitch's own catalog changes (the fence,
	// the marker) must not wait for a synchronous standby that may be gone.
	conn, err := pgutil.Connect(ctx, d.DSN, pgutil.Options{AppName: d.AppName + "_admin", Writable: true,
		Params: map[string]string{"synchronous_commit": "local"}})
	if err != nil || d.SystemID == "" {
		return conn, err
	}
	if _, err := pgutil.VerifySystemID(ctx, conn, d.DSN, d.Which, d.SystemID); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// with runs f on a fresh administrative session.
func (d *DB) with(ctx context.Context, f func(*pgx.Conn) error) error {
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return f(conn)
}

// FenceReport says what the fence had to do.
type FenceReport struct {
	Terminated int           // client sessions ended
	Rounds     int           // passes until none was left
	Connect    time.Duration // opening the administrative session
	Statement  time.Duration // pgswitch.fence()
	Took       time.Duration // connect to verified quiet
}

// ErrPreparedXacts: prepared transactions would commit behind the fence.
var ErrPreparedXacts = errors.New("prepared transactions exist on the database")

// Fence stops client writes: CONNECTION LIMIT 0 and read-only sessions
// (pgswitch.fence()), then ends client sessions until two passes in a row
// find none, and refuses when a prepared transaction is left. A superuser
// client is not stopped by the connection limit: its sessions are ended
// like all others, and it should not be an application role.
func (d *DB) Fence(ctx context.Context) (FenceReport, error) {
	var rep FenceReport
	start := time.Now()
	err := d.with(ctx, func(conn *pgx.Conn) error {
		rep.Connect = time.Since(start)
		if _, err := conn.Exec(ctx, sql.Query("fence")); err != nil {
			return fmt.Errorf("fencing: %w", err)
		}
		rep.Statement = time.Since(start) - rep.Connect
		quiet := 0
		for quiet < 2 {
			rep.Rounds++
			n, err := terminateClients(ctx, conn)
			if err != nil {
				return err
			}
			rep.Terminated += n
			if n == 0 {
				quiet++
			} else {
				quiet = 0
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("fencing: client sessions keep arriving: %w", ctx.Err())
			case <-time.After(5 * time.Millisecond):
			}
		}
		var prepared int
		if err := conn.QueryRow(ctx, sql.Query("prepared_xacts")).Scan(&prepared); err != nil {
			return fmt.Errorf("counting prepared transactions: %w", err)
		}
		if prepared > 0 {
			return fmt.Errorf("%w: %d (COMMIT PREPARED or ROLLBACK PREPARED them first)", ErrPreparedXacts, prepared)
		}
		return nil
	})
	rep.Took = time.Since(start)
	return rep, err
}

// terminateClients ends every client session and waits until they are
// gone, so that a transaction in flight has ended (aborted) on return. All
// are signalled at once; pg_terminate_backend's own wait polls only every
// 100 ms, so the exits are polled here instead.
func terminateClients(ctx context.Context, conn *pgx.Conn) (int, error) {
	rows, err := conn.Query(ctx, sql.Query("client_backends"))
	if err != nil {
		return 0, fmt.Errorf("listing client sessions: %w", err)
	}
	var pids []int32
	for rows.Next() {
		var pid int32
		var user, app, client string
		var hasXid bool
		if err := rows.Scan(&pid, &user, &app, &client, &hasXid); err != nil {
			rows.Close()
			return 0, fmt.Errorf("listing client sessions: %w", err)
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("listing client sessions: %w", err)
	}
	if len(pids) == 0 {
		return 0, nil
	}
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids); err != nil {
		return 0, fmt.Errorf("ending client sessions %v: %w", pids, err)
	}
	for {
		var left int
		if err := conn.QueryRow(ctx, "SELECT count(*)::int FROM pg_catalog.pg_stat_activity WHERE pid = ANY($1::int[])", pids).Scan(&left); err != nil {
			return 0, fmt.Errorf("waiting for client sessions to end: %w", err)
		}
		if left == 0 {
			return len(pids), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %d client sessions to end: %w", left, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// TerminateClients ends every client session on the database.
func (d *DB) TerminateClients(ctx context.Context) (int, error) {
	var n int
	err := d.with(ctx, func(conn *pgx.Conn) error {
		var err error
		n, err = terminateClients(ctx, conn)
		return err
	})
	return n, err
}

// Unfence lifts the fence: writable for the active, read-only for clients
// of a standby.
func (d *DB) Unfence(ctx context.Context, writable bool) error {
	return d.with(ctx, func(conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, sql.Query("unfence"), writable); err != nil {
			return fmt.Errorf("unfencing (writable=%t): %w", writable, err)
		}
		return nil
	})
}

// ClientMode is "writable", "read-only" or "fenced".
func (d *DB) ClientMode(ctx context.Context) (string, error) {
	var mode string
	err := d.with(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, sql.Query("client_mode")).Scan(&mode)
	})
	return mode, err
}

// WriteMarker writes a transactional logical message that the standby's
// applier recognises, and returns its LSN (the fence LSN).
func (d *DB) WriteMarker(ctx context.Context, content string) (replication.LSN, error) {
	var lsn replication.LSN
	err := d.with(ctx, func(conn *pgx.Conn) error {
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadWrite})
		if err != nil {
			return fmt.Errorf("writing the switch marker: %w", err)
		}
		defer tx.Rollback(context.Background())
		var text string
		if err := tx.QueryRow(ctx, sql.Query("emit_marker"), content).Scan(&text); err != nil {
			return fmt.Errorf("writing the switch marker: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("committing the switch marker: %w", err)
		}
		lsn, err = replication.ParseLSN(text)
		return err
	})
	return lsn, err
}

// WriteLSN is the database's current WAL write position
// (pg_current_wal_lsn()), read now.
func (d *DB) WriteLSN(ctx context.Context) (string, error) {
	var lsn string
	err := d.with(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SELECT pg_catalog.pg_current_wal_lsn()::text").Scan(&lsn)
	})
	if err != nil {
		return "", fmt.Errorf("reading the write position: %w", err)
	}
	return lsn, nil
}
