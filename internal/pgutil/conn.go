package pgutil

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgswitch/pgswitch/internal/config"
)

// DefaultConnectTimeout bounds a connection attempt when the DSN sets none.
const DefaultConnectTimeout = 10 * time.Second

// Session settings shared by the walsender and the apply session so that the
// text form of every value is produced and parsed identically on both sides
// (the settings PostgreSQL's own apply worker asks its walsender for, plus a
// fixed time zone and bytea format).
var textParams = map[string]string{
	"DateStyle":          "ISO",
	"IntervalStyle":      "postgres",
	"extra_float_digits": "3",
	"TimeZone":           "UTC",
	"bytea_output":       "hex",
}

// Options says what kind of session to open.
type Options struct {
	// AppName becomes application_name; it should start with "pgswitch".
	AppName string
	// Replication opens a logical replication (walsender) connection.
	Replication bool
	// Writable sets default_transaction_read_only = off for this session, so
	// pgswitch can write on a database that is read-only to clients.
	Writable bool
	// Params are further session settings.
	Params map[string]string
}

// Config parses dsn and applies opts. The error names the DSN only in its
// redacted form.
func Config(dsn string, opts Options) (*pgconn.Config, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			return nil, fmt.Errorf("parsing DSN %q: %w", Redact(dsn), cause)
		}
		// No cause (a bad port): pgconn's own reason follows the DSN it
		// quotes, which is left out here (its redaction is best effort).
		msg := err.Error()
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			msg = msg[i+3:]
		}
		return nil, fmt.Errorf("parsing DSN %q: %s", Redact(dsn), msg)
	}
	applyOptions(cfg, opts)
	return cfg, nil
}

func applyOptions(cfg *pgconn.Config, opts Options) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	for k, v := range textParams {
		cfg.RuntimeParams[k] = v
	}
	if opts.AppName != "" {
		cfg.RuntimeParams["application_name"] = opts.AppName
	}
	if opts.Replication {
		cfg.RuntimeParams["replication"] = "database"
	}
	if opts.Writable {
		cfg.RuntimeParams["default_transaction_read_only"] = "off"
	}
	for k, v := range opts.Params {
		cfg.RuntimeParams[k] = v
	}
}

// ConnectPg opens a low-level connection (used for replication and apply).
func ConnectPg(ctx context.Context, dsn string, opts Options) (*pgconn.PgConn, error) {
	cfg, err := Config(dsn, opts)
	if err != nil {
		return nil, err
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", Describe(dsn), err)
	}
	return conn, nil
}

// Connect opens a pgx connection for ordinary queries.
func Connect(ctx context.Context, dsn string, opts Options) (*pgx.Conn, error) {
	pcfg, err := Config(dsn, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing DSN %q: %w", Redact(dsn), errors.Unwrap(err))
	}
	cfg.Config = *pcfg
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", Describe(dsn), err)
	}
	return conn, nil
}

// Describe names the server a DSN points at (host, port, database, user)
// without any secret, for logs and errors.
func Describe(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return Redact(dsn)
	}
	return fmt.Sprintf("%s:%d/%s as %s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
}

// Redact masks a password in a key=value or URL connection string (the
// configuration package's implementation, which follows pgconn's parsing).
func Redact(dsn string) string { return config.RedactDSN(dsn) }

// Ident quotes an SQL identifier.
// Literal quotes s as an SQL string literal (standard_conforming_strings,
// on by default since PostgreSQL 9.1 and required by pgswitch's sessions).
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func Ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// Qualified quotes schema.name.
func Qualified(schema, name string) string { return pgx.Identifier{schema, name}.Sanitize() }
