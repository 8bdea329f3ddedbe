package replication

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/schema"
)

// RecopyOptions re-copy some tables of a node from the active one, in one
// snapshot (pgswitch rejoin: the tables an old active's lost transactions
// touched).
type RecopyOptions struct {
	SourceDSN, TargetDSN string
	AppName              string
	Slot                 string         // a temporary slot's name on the source, for the snapshot
	Tables               []schema.Shape // the source's shapes
}

// Recopy replaces the rows of each table on the target with the source's,
// as of one exported snapshot, in one local transaction (all or none), and
// returns the snapshot's consistent point: a transaction on the source
// that commits before it is in the copy, one that commits at or after it
// is not (streaming must apply it to these tables, and skip the earlier
// ones). The temporary slot goes with the replication connection.
func Recopy(ctx context.Context, o RecopyOptions) (LSN, int64, error) {
	rconn, err := pgutil.ConnectPg(ctx, o.SourceDSN, pgutil.Options{AppName: o.AppName + "_rejoin", Replication: true})
	if err != nil {
		return 0, 0, fmt.Errorf("opening a replication connection to the active node: %w", err)
	}
	defer rconn.Close(context.Background())
	res, err := pglogrepl.CreateReplicationSlot(ctx, rconn, pgutil.Ident(o.Slot), "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Temporary: true, Mode: pglogrepl.LogicalReplication, SnapshotAction: "(SNAPSHOT 'export')"})
	if err != nil {
		return 0, 0, fmt.Errorf("creating the temporary slot %s: %w", o.Slot, err)
	}
	point, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, 0, fmt.Errorf("parsing consistent point %q: %w", res.ConsistentPoint, err)
	}
	src, err := pgutil.ConnectPg(ctx, o.SourceDSN, pgutil.Options{AppName: o.AppName + "_rejoin"})
	if err != nil {
		return 0, 0, fmt.Errorf("connecting to the active node: %w", err)
	}
	defer src.Close(context.Background())
	if _, err := src.Exec(ctx, fmt.Sprintf("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '%s'", res.SnapshotName)).ReadAll(); err != nil {
		return 0, 0, fmt.Errorf("entering the slot's snapshot: %w", err)
	}
	dst, err := pgutil.ConnectPg(ctx, o.TargetDSN, pgutil.Options{AppName: o.AppName + "_rejoin", Writable: true,
		Params: map[string]string{"session_replication_role": "replica"}})
	if err != nil {
		return 0, 0, fmt.Errorf("connecting to this node's database: %w", err)
	}
	defer dst.Close(context.Background())
	if _, err := dst.Exec(ctx, "BEGIN READ WRITE").ReadAll(); err != nil {
		return 0, 0, fmt.Errorf("beginning the re-copy: %w", err)
	}
	var rows int64
	for _, shape := range o.Tables {
		t := shape.Table
		// DELETE, not TRUNCATE: other tables may reference it, and the
		// replica role keeps their foreign keys from firing.
		if _, err := dst.Exec(ctx, "DELETE FROM "+t.Quoted()).ReadAll(); err != nil {
			return 0, 0, fmt.Errorf("emptying %s: %w", t, err)
		}
		n, err := streamTable(ctx, src, dst, shape, nil)
		if err != nil {
			return 0, 0, err
		}
		rows += n
	}
	if _, err := dst.Exec(ctx, "COMMIT").ReadAll(); err != nil {
		return 0, 0, fmt.Errorf("committing the re-copy: %w", err)
	}
	return point, rows, nil
}

// streamTable copies one table from src (inside its snapshot) into dst
// through a pipe and returns the rows written; through, when not nil,
// wraps the pipe's reading end (the initial copy counts what passes).
func streamTable(ctx context.Context, src, dst *pgconn.PgConn, shape schema.Shape, through func(io.Reader) io.Reader) (int64, error) {
	t := shape.Table
	cols := strings.Join(shape.CopyColumns(), ", ")
	pr, pw := io.Pipe()
	var in io.Reader = pr
	if through != nil {
		in = through(pr)
	}
	var rows int64
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, err := src.CopyTo(gctx, pw, fmt.Sprintf("COPY %s (%s) TO STDOUT", t.Quoted(), cols))
		pw.CloseWithError(err)
		if err != nil {
			return fmt.Errorf("reading %s from the active node: %w", t, err)
		}
		return nil
	})
	g.Go(func() error {
		tag, err := dst.CopyFrom(gctx, in, fmt.Sprintf("COPY %s (%s) FROM STDIN", t.Quoted(), cols))
		if err != nil {
			pr.CloseWithError(err)
			return fmt.Errorf("writing %s on the standby: %w", t, err)
		}
		rows = tag.RowsAffected()
		return nil
	})
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return rows, nil
}
