package setup

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/schema"
	"github.com/pgswitch/pgswitch/sql"
)

// Options for init.
type Options struct {
	Config *config.Config
	Log    zerolog.Logger
	// Out receives human-readable progress; Terminal makes it a single
	// line that updates in place.
	Out      io.Writer
	Terminal bool
}

func (o Options) appName() string { return o.Config.ApplicationName() + "_init" }

func (o Options) connectLocal(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgutil.Connect(ctx, o.Config.Postgres.DSN, pgutil.Options{AppName: o.appName(), Writable: true})
	if err != nil {
		return nil, refuse("local database: %v", err)
	}
	return conn, nil
}

func (o Options) connectPeer(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgutil.Connect(ctx, o.Config.Postgres.PeerDSN, pgutil.Options{AppName: o.appName(), Writable: true})
	if err != nil {
		return nil, refuse("peer database (%s): %v", o.Config.Peer.Name, err)
	}
	return conn, nil
}

// ServerInfo is what init and check need to know of a server.
type ServerInfo struct {
	VersionNum          int
	WALLevel            string
	MaxReplicationSlots int
	MaxWALSenders       int
	SlotsUsed           int
	InRecovery          bool
	Database, Role      string
	Superuser           bool
	Replication         bool
	HasSchema           bool
}

// ReadServerInfo queries the server_info facts.
func ReadServerInfo(ctx context.Context, conn *pgx.Conn) (ServerInfo, error) {
	var s ServerInfo
	err := conn.QueryRow(ctx, sql.Query("server_info")).Scan(&s.VersionNum, &s.WALLevel, &s.MaxReplicationSlots,
		&s.MaxWALSenders, &s.SlotsUsed, &s.InRecovery, &s.Database, &s.Role, &s.Superuser, &s.Replication, &s.HasSchema)
	if err != nil {
		return s, fmt.Errorf("reading server settings: %w", err)
	}
	return s, nil
}

// Problems lists what makes a server unfit for pgswitch, one line each.
func (s ServerInfo) Problems() []string {
	var out []string
	if s.VersionNum < 150000 {
		out = append(out, fmt.Sprintf("PostgreSQL %d is too old: pgswitch needs 15 or later", s.VersionNum/10000))
	}
	if s.WALLevel != "logical" {
		out = append(out, fmt.Sprintf("wal_level is %s: set wal_level = logical and restart PostgreSQL", s.WALLevel))
	}
	if s.InRecovery {
		out = append(out, "the server is a physical standby (in recovery): pgswitch needs two primaries")
	}
	if !s.Superuser {
		out = append(out, fmt.Sprintf("role %s is not a superuser: PostgreSQL 15 reserves replication origins and session_replication_role to superusers", s.Role))
	}
	if !s.Replication && !s.Superuser {
		out = append(out, fmt.Sprintf("role %s lacks the REPLICATION attribute needed for slots", s.Role))
	}
	return out
}

func checkServer(ctx context.Context, conn *pgx.Conn, node string) error {
	info, err := ReadServerInfo(ctx, conn)
	if err != nil {
		return err
	}
	if p := info.Problems(); len(p) > 0 {
		return refuse("%s: %s", node, strings.Join(p, "; "))
	}
	return nil
}

// installSchema creates or updates pgswitch's schema and functions.
func installSchema(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, sql.Schema); err != nil {
		return fmt.Errorf("installing the pgswitch schema: %w", err)
	}
	return nil
}

// loadShapes reads the shapes of tables; missing ones are listed apart.
func loadShapes(ctx context.Context, conn *pgx.Conn, tables []schema.Table) ([]schema.Shape, []string, error) {
	var shapes []schema.Shape
	var missing []string
	for _, t := range tables {
		s, ok, err := schema.Load(ctx, conn, t)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			missing = append(missing, t.String())
			continue
		}
		shapes = append(shapes, s)
	}
	return shapes, missing, nil
}
