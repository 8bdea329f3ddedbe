package pgutil

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestSQLState(t *testing.T) {
	pgErr := &pgconn.PgError{Code: ReadOnlyTransaction, Message: "cannot execute INSERT in a read-only transaction"}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"pg error", pgErr, ReadOnlyTransaction},
		{"wrapped once", fmt.Errorf("inserting: %w", pgErr), ReadOnlyTransaction},
		{"wrapped twice", fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", pgErr)), ReadOnlyTransaction},
		{"joined", errors.Join(io.EOF, &pgconn.PgError{Code: UniqueViolation}), UniqueViolation},
		{"not a pg error", errors.New("connection reset"), ""},
		{"wrapped non-pg error", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), ""},
		// %v flattens the error: its SQLSTATE is gone.
		{"formatted with %v", fmt.Errorf("x: %v", pgErr), ""},
	} {
		if got := SQLState(tc.err); got != tc.want {
			t.Errorf("%s: SQLState = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestWrongDatabaseError(t *testing.T) {
	e := &WrongDatabaseError{Which: "peer", Host: "db2:5432/app as pgswitch", Expected: "7301", Found: "7399"}
	want := "the peer database at db2:5432/app as pgswitch has system identifier 7399, but this node was initialised on 7301: refusing to act on a database it never initialised"
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q\nwant %q", got, want)
	}

	wrapped := fmt.Errorf("starting: %w", fmt.Errorf("connecting: %w", e))
	if !errors.Is(wrapped, ErrWrongDatabase) {
		t.Error("errors.Is(wrapped WrongDatabaseError, ErrWrongDatabase) = false")
	}
	if !strings.HasSuffix(wrapped.Error(), want) {
		t.Errorf("wrapped message %q lost the cause", wrapped)
	}
	var got *WrongDatabaseError
	if !errors.As(wrapped, &got) || got != e {
		t.Errorf("errors.As through wrapping gave %v, want the original error", got)
	}

	for _, other := range []error{
		errors.New(ErrWrongDatabase.Error()), // same text, different error
		fmt.Errorf("x: %v", e),               // flattened
		io.EOF,
	} {
		if errors.Is(other, ErrWrongDatabase) {
			t.Errorf("errors.Is(%q, ErrWrongDatabase) = true", other)
		}
	}
	if e.Is(io.EOF) {
		t.Error("WrongDatabaseError.Is(io.EOF) = true")
	}
}
