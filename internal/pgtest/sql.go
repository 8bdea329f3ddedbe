package pgtest

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// sqlTimeout bounds a database call whose context has no deadline.
const sqlTimeout = time.Minute

// DSN is a key=value libpq connection string for db over TCP:
// host=<Host> port=<Port> user=postgres dbname=<db> sslmode=disable.
func (c *Cluster) DSN(db string) string {
	return dsn(c.Host, c.Port, db)
}

// SocketDSN is like DSN but over the unix socket in SocketDir, which works
// from any network namespace (the server's, the host's or another).
func (c *Cluster) SocketDSN(db string) string {
	return dsn(c.SocketDir, c.Port, db)
}

func dsn(host string, port int, db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable",
		quoteDSN(host), port, quoteDSN(db))
}

// quoteDSN quotes a libpq connection-string value when it needs it.
func quoteDSN(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`) {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// Conn opens a connection to db over the unix socket. The caller closes it.
func (c *Cluster) Conn(ctx context.Context, db string) (*pgx.Conn, error) {
	ctx, cancel := withTimeout(ctx, sqlTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.SocketDSN(db))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s/%s: %w", c.Name, db, err)
	}
	return conn, nil
}

// Exec runs one statement in db on a fresh connection.
func (c *Cluster) Exec(ctx context.Context, db, sql string, args ...any) error {
	ctx, cancel := withTimeout(ctx, sqlTimeout)
	defer cancel()
	conn, err := c.Conn(ctx, db)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%s/%s: %s: %w", c.Name, db, short(sql), err)
	}
	return nil
}

// QueryString returns the first column of the first row as a string. The
// column must be text (cast with ::text); NULL and no rows are errors.
func (c *Cluster) QueryString(ctx context.Context, db, sql string, args ...any) (string, error) {
	ctx, cancel := withTimeout(ctx, sqlTimeout)
	defer cancel()
	conn, err := c.Conn(ctx, db)
	if err != nil {
		return "", err
	}
	defer closeConn(conn)
	var s string
	if err := conn.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		return "", fmt.Errorf("%s/%s: %s: %w", c.Name, db, short(sql), err)
	}
	return s, nil
}

// CreateDatabase creates database name.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return c.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// Psql runs psql (from BinDir, without psqlrc, stopping at the first error)
// as the postgres user against SocketDSN(db) with the extra args, for example
// "-Atc", "SELECT 1". It returns the combined output; a failure's error
// includes it too.
func (c *Cluster) Psql(ctx context.Context, db string, args ...string) (string, error) {
	ctx, cancel := withTimeout(ctx, 5*time.Minute)
	defer cancel()
	argv := append([]string{filepath.Join(c.bin, "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-d", c.SocketDSN(db)}, args...)
	out, err := runPG(ctx, "", argv...)
	if err != nil {
		return out, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	return out, nil
}

// Pgbench runs pgbench (from BinDir) as the postgres user against db over the
// unix socket, for example Pgbench(ctx, "postgres", "-i", "-s", "1"). It
// returns the combined output. Without a deadline in ctx it may run for up
// to 30 minutes.
func (c *Cluster) Pgbench(ctx context.Context, db string, args ...string) (string, error) {
	ctx, cancel := withTimeout(ctx, 30*time.Minute)
	defer cancel()
	argv := []string{filepath.Join(c.bin, "pgbench"), "-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres"}
	argv = append(append(argv, args...), db)
	out, err := runPG(ctx, "", argv...)
	if err != nil {
		return out, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	return out, nil
}

// short abbreviates a statement for an error message.
func short(sql string) string {
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > 80 {
		return sql[:77] + "..."
	}
	return sql
}

// closeConn closes a connection, waiting at most 5 seconds.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Close(ctx)
}
