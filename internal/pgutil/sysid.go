package pgutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SystemID is the database cluster's system identifier, unique per initdb.
func SystemID(ctx context.Context, conn *pgx.Conn) (string, error) {
	var id string
	if err := conn.QueryRow(ctx, "SELECT system_identifier::text FROM pg_catalog.pg_control_system()").Scan(&id); err != nil {
		return "", fmt.Errorf("reading the system identifier: %w", err)
	}
	return id, nil
}

// ErrWrongDatabase matches a *WrongDatabaseError with errors.Is.
var ErrWrongDatabase = errors.New("not the database this node was initialised on")

// WrongDatabaseError means a DSN reaches a database cluster other than the
// one recorded at init (replaced by a fresh initdb on the same port, say).
type WrongDatabaseError struct {
	Which    string // "local" or "peer"
	Host     string // the DSN's host and port, without the password
	Expected string
	Found    string
}

func (e *WrongDatabaseError) Error() string {
	return fmt.Sprintf("the %s database at %s has system identifier %s, but this node was initialised on %s: refusing to act on a database it never initialised",
		e.Which, e.Host, e.Found, e.Expected)
}

// Is makes errors.Is(err, ErrWrongDatabase) true.
func (e *WrongDatabaseError) Is(target error) bool { return target == ErrWrongDatabase }

// VerifySystemID reads conn's system identifier and compares it with
// expected (none recorded yet: any is accepted). It returns the identifier
// found.
func VerifySystemID(ctx context.Context, conn *pgx.Conn, dsn, which, expected string) (string, error) {
	found, err := SystemID(ctx, conn)
	if err != nil {
		return "", fmt.Errorf("%s database at %s: %w", which, Describe(dsn), err)
	}
	if expected != "" && found != expected {
		return found, &WrongDatabaseError{Which: which, Host: Describe(dsn), Expected: expected, Found: found}
	}
	return found, nil
}
