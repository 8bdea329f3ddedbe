package setup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/schema"
	"github.com/pgswitch/pgswitch/internal/state"
	"github.com/pgswitch/pgswitch/sql"
)

// InitStandby prepares the empty node: schema, origin, a consistent copy of
// the data from the active node, read-only for clients; records STANDBY.
func InitStandby(ctx context.Context, o Options) error {
	cfg := o.Config
	store, err := state.Open(cfg.Node.StateDir, cfg.Node.Name)
	if err != nil {
		return err
	}
	rec, err := store.Load()
	resume := false
	switch {
	case errors.Is(err, state.ErrNoState):
	case err != nil:
		return err
	case handshake.WantOf(rec.State).Role == handshake.RoleCopying:
		resume = true
	case handshake.WantOf(rec.State).Role == handshake.RoleStandby:
		// An initialised standby (FAULT is one with a fault): init only
		// verifies it.
	default:
		return refuse("%s is recorded as %s: init --role standby would throw its data away", cfg.Node.Name, rec.State)
	}

	local, err := o.connectLocal(ctx)
	if err != nil {
		return err
	}
	defer local.Close(context.Background())
	peer, err := o.connectPeer(ctx)
	if err != nil {
		return err
	}
	defer peer.Close(context.Background())
	localID, err := pgutil.VerifySystemID(ctx, local, cfg.Postgres.DSN, "local", rec.LocalSystemID)
	if err != nil {
		return err
	}
	peerID, err := pgutil.VerifySystemID(ctx, peer, cfg.Postgres.PeerDSN, "peer", rec.PeerSystemID)
	if err != nil {
		return err
	}
	if err := checkServer(ctx, local, cfg.Node.Name); err != nil {
		return err
	}
	if err := checkServer(ctx, peer, cfg.Peer.Name); err != nil {
		return err
	}

	if handshake.WantOf(rec.State).Role == handshake.RoleStandby {
		return verifyStandby(ctx, o, local)
	}

	var published bool
	if err := peer.QueryRow(ctx, sql.Query("publication_exists"), cfg.Replication.Publication).Scan(&published); err != nil {
		return fmt.Errorf("looking up the publication on %s: %w", cfg.Peer.Name, err)
	}
	if !published {
		return refuse("%s has no publication %s: run pgswitch init --role primary there first", cfg.Peer.Name, cfg.Replication.Publication)
	}
	tables, err := schema.Replicated(ctx, peer, cfg.Replication.Publication, nil)
	if err != nil {
		return err
	}
	shapes, err := compareTables(ctx, o, peer, local, tables)
	if err != nil {
		return err
	}
	if !resume {
		if err := refuseNonEmpty(ctx, local, tables); err != nil {
			return err
		}
	}

	if err := installSchema(ctx, local); err != nil {
		return err
	}
	if err := replication.EnsureOrigin(ctx, local, cfg.OriginName()); err != nil {
		return err
	}
	// The publication must exist here long before the reverse slot that a
	// switchover creates: pgoutput looks it up as of each decoded change.
	if err := EnsurePublication(ctx, local, cfg.Replication.Publication, cfg.Replication.Tables); err != nil {
		return err
	}
	// Clients must not write here from now on.
	if _, err := local.Exec(ctx, sql.Query("unfence"), false); err != nil {
		return fmt.Errorf("making %s read-only for clients: %w", cfg.Node.Name, err)
	}
	rec = state.Record{Name: cfg.Node.Name, Node: handshake.Node{State: handshake.Initializing, Reason: "init --role standby: copying"},
		LocalSystemID: localID, PeerSystemID: peerID}
	if err := store.Save(rec, ""); err != nil {
		return err
	}
	if resume {
		if err := truncate(ctx, local, tables); err != nil {
			return err
		}
	}
	// The slot made by the primary's init has no consumer yet: make it
	// again with an exported snapshot for the copy.
	if err := replication.DropSlot(ctx, peer, cfg.SlotName()); err != nil {
		return err
	}
	prog := newProgress(o)
	point, err := replication.InitialCopy(ctx, replication.CopyOptions{
		SourceDSN: cfg.Postgres.PeerDSN, TargetDSN: cfg.Postgres.DSN,
		Slot: cfg.SlotName(), Origin: cfg.OriginName(), AppName: cfg.ApplicationName(),
		Tables: shapes, Progress: prog.report, Log: o.Log,
	})
	prog.finish()
	if err != nil {
		return fmt.Errorf("initial copy (run init --role standby again to restart it): %w", err)
	}
	rec.State, rec.Epoch, rec.Reason = handshake.Standby, 1, "init --role standby"
	if err := store.Save(rec, handshake.Initializing); err != nil {
		return err
	}
	o.Log.Info().Str("state", string(handshake.Standby)).Str("lsn", point.String()).Msg("standby initialised")
	fmt.Fprintf(o.Out, "%s is STANDBY: %d tables copied; streaming will start at %s from slot %s on %s\n",
		cfg.Node.Name, len(shapes), point, cfg.SlotName(), cfg.Peer.Name)
	return nil
}

// verifyStandby is the idempotent re-run: the origin must have progress.
func verifyStandby(ctx context.Context, o Options, local *pgx.Conn) error {
	cfg := o.Config
	if err := installSchema(ctx, local); err != nil {
		return err
	}
	pos, ok, err := replication.OriginProgress(ctx, local, cfg.OriginName())
	if err != nil {
		return err
	}
	if !ok {
		return refuse("%s is recorded as STANDBY but origin %s has no position: the node's state and database disagree", cfg.Node.Name, cfg.OriginName())
	}
	fmt.Fprintf(o.Out, "%s is already STANDBY (applied up to %s); nothing to do\n", cfg.Node.Name, pos)
	return nil
}

// compareTables refuses unless every table exists on the standby with the
// same shape; it returns the source's shapes.
func compareTables(ctx context.Context, o Options, peer, local *pgx.Conn, tables []schema.Table) ([]schema.Shape, error) {
	src, _, err := loadShapes(ctx, peer, tables)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, s := range src {
		d, ok, err := schema.Load(ctx, local, s.Table)
		if err != nil {
			return nil, err
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("%s does not exist on %s", s.Table, o.Config.Node.Name))
			continue
		}
		problems = append(problems, schema.Diff(s, d, o.Config.Peer.Name, o.Config.Node.Name)...)
	}
	if len(problems) > 0 {
		return nil, refuse("schema differs between the nodes (create the same tables on both; DDL is not replicated):\n  %s", strings.Join(problems, "\n  "))
	}
	return src, nil
}

func refuseNonEmpty(ctx context.Context, local *pgx.Conn, tables []schema.Table) error {
	var full []string
	for _, t := range tables {
		var has bool
		if err := local.QueryRow(ctx, fmt.Sprintf(sql.Query("table_has_rows"), t.Quoted())).Scan(&has); err != nil {
			return fmt.Errorf("checking whether %s is empty: %w", t, err)
		}
		if has {
			full = append(full, t.String())
		}
	}
	if len(full) > 0 {
		return refuse("tables on the standby are not empty (init copies the data itself; empty them first): %s", strings.Join(full, ", "))
	}
	return nil
}

func truncate(ctx context.Context, local *pgx.Conn, tables []schema.Table) error {
	if len(tables) == 0 {
		return nil
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Quoted()
	}
	if _, err := local.Exec(ctx, "SET session_replication_role = replica; TRUNCATE "+strings.Join(names, ", ")); err != nil {
		return fmt.Errorf("emptying the tables of an interrupted copy: %w", err)
	}
	return nil
}

// progress prints copy progress: a line updated in place on a terminal,
// plain lines otherwise; the log gets every report.
type progress struct {
	o    Options
	mu   sync.Mutex
	last time.Time
}

func newProgress(o Options) *progress { return &progress{o: o} }

func (p *progress) report(c replication.CopyProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.o.Log.Info().Str("table", c.Table).Int("table_n", c.Index).Int("tables", c.Total).Int64("rows", c.Rows).
		Int64("bytes", c.Bytes).Int64("total_rows", c.TotalRows).Int64("total_bytes", c.TotalBytes).Bool("done", c.TableDone).Msg("copy progress")
	line := fmt.Sprintf("copying %s (table %d of %d): %d rows, %s; total %d rows, %s in %s",
		c.Table, c.Index, c.Total, c.Rows, humanBytes(c.Bytes), c.TotalRows, humanBytes(c.TotalBytes), c.Elapsed.Round(time.Second))
	if p.o.Terminal {
		fmt.Fprintf(p.o.Out, "\r\033[K%s", line)
		if c.TableDone {
			fmt.Fprintln(p.o.Out)
		}
		return
	}
	if c.TableDone || time.Since(p.last) >= 5*time.Second {
		fmt.Fprintln(p.o.Out, line)
		p.last = time.Now()
	}
}

func (p *progress) finish() {}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
