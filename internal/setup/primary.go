package setup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/schema"
	"github.com/pgswitch/pgswitch/internal/state"
	"github.com/pgswitch/pgswitch/sql"
)

// InitPrimary prepares the node that holds the data and records it ACTIVE.
// Running it again changes nothing that is already right.
func InitPrimary(ctx context.Context, o Options) error {
	cfg := o.Config
	store, err := state.Open(cfg.Node.StateDir, cfg.Node.Name)
	if err != nil {
		return err
	}
	rec, err := store.Load()
	switch {
	case errors.Is(err, state.ErrNoState):
	case err != nil:
		return err
	case handshake.WantOf(rec.State).Role != handshake.RolePrimary:
		return refuse("%s is recorded as %s: init --role primary would make a second writer (use pgswitch promote to change roles)", cfg.Node.Name, rec.State)
	}

	conn, err := o.connectLocal(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	localID, err := pgutil.VerifySystemID(ctx, conn, cfg.Postgres.DSN, "local", rec.LocalSystemID)
	if err != nil {
		return err
	}
	if err := checkServer(ctx, conn, cfg.Node.Name); err != nil {
		return err
	}
	tables, err := schema.Replicated(ctx, conn, cfg.Replication.Publication, cfg.Replication.Tables)
	if err != nil {
		return err
	}
	shapes, missing, err := loadShapes(ctx, conn, tables)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return refuse("tables listed in replication.tables do not exist on %s: %s", cfg.Node.Name, strings.Join(missing, ", "))
	}
	// A published table without replica identity makes UPDATE and DELETE
	// fail on the primary: refuse before publishing anything.
	var noIdent []string
	for _, s := range shapes {
		if !s.Identifiable() {
			noIdent = append(noIdent, s.Table.String())
		}
	}
	if len(noIdent) > 0 {
		return refuse("tables without replica identity (UPDATE and DELETE on them would fail once published; add a primary key or set REPLICA IDENTITY FULL): %s", strings.Join(noIdent, ", "))
	}

	if err := installSchema(ctx, conn); err != nil {
		return err
	}
	if err := EnsurePublication(ctx, conn, cfg.Replication.Publication, cfg.Replication.Tables); err != nil {
		return err
	}
	if err := replication.EnsureOrigin(ctx, conn, cfg.OriginName()); err != nil {
		return err
	}
	if err := replication.EnsureSlot(ctx, conn, cfg.PeerSlotName()); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, sql.Query("unfence"), true); err != nil {
		return fmt.Errorf("making %s writable: %w", cfg.Node.Name, err)
	}
	if handshake.WantOf(rec.State).Role != handshake.RolePrimary {
		rec = state.Record{Name: cfg.Node.Name, Node: handshake.Node{State: handshake.Active, Epoch: 1, Reason: "init --role primary"}, LocalSystemID: localID}
		if err := store.Save(rec, ""); err != nil {
			return err
		}
	} else if rec.LocalSystemID == "" {
		// A record made before the identifiers were kept.
		rec.LocalSystemID = localID
		if err := store.Save(rec, rec.State); err != nil {
			return err
		}
	}
	o.Log.Info().Str("state", string(handshake.Active)).Uint64("epoch", rec.Epoch).Int("tables", len(shapes)).
		Str("publication", cfg.Replication.Publication).Str("slot", cfg.PeerSlotName()).Msg("primary initialised")
	fmt.Fprintf(o.Out, "%s is ACTIVE (epoch %d): publication %s (%d tables), slot %s for %s, origin %s\n",
		cfg.Node.Name, rec.Epoch, cfg.Replication.Publication, len(shapes), cfg.PeerSlotName(), cfg.Peer.Name, cfg.OriginName())
	return nil
}

// EnsurePublication creates the publication, or brings its table list in
// line with the configuration.
func EnsurePublication(ctx context.Context, conn *pgx.Conn, name string, tables []string) error {
	var exists, allTables bool
	err := conn.QueryRow(ctx, "SELECT true, puballtables FROM pg_catalog.pg_publication WHERE pubname = $1", name).Scan(&exists, &allTables)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("looking up publication %s: %w", name, err)
	}
	list := make([]string, len(tables))
	for i, t := range tables {
		list[i] = schema.ParseTable(t).Quoted()
	}
	pub := pgutil.Ident(name)
	var stmt string
	switch {
	case !exists && len(tables) == 0:
		stmt = "CREATE PUBLICATION " + pub + " FOR ALL TABLES"
	case !exists:
		stmt = "CREATE PUBLICATION " + pub + " FOR TABLE " + strings.Join(list, ", ")
	case allTables && len(tables) > 0:
		return refuse("publication %s publishes ALL TABLES but replication.tables lists some: drop the publication or empty the list", name)
	case !allTables && len(tables) == 0:
		return refuse("publication %s publishes a table list but replication.tables is empty (FOR ALL TABLES): drop the publication or list the tables", name)
	case len(tables) > 0:
		stmt = "ALTER PUBLICATION " + pub + " SET TABLE " + strings.Join(list, ", ")
	default:
		return nil
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("publishing: %s: %w", stmt, err)
	}
	return nil
}
