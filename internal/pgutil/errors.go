package pgutil

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLState returns the SQLSTATE of a server error wrapped in err, or "".
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Well-known SQLSTATEs pgswitch decides on.
const (
	UndefinedTable       = "42P01"
	UndefinedColumn      = "42703"
	UndefinedObject      = "42704"
	UndefinedFunction    = "42883"
	InvalidTextRep       = "22P02"
	DatatypeMismatch     = "42804"
	ObjectInUse          = "55006"
	InsufficientPrivs    = "42501"
	DiskFull             = "53100"
	ReadOnlyTransaction  = "25006"
	AdminShutdown        = "57P01"
	CannotConnectNow     = "57P03"
	TooManyConnections   = "53300"
	UniqueViolation      = "23505"
	DuplicateObject      = "42710"
	ObjectNotInPrereqSt  = "55000"
	FeatureNotSupported  = "0A000"
	InvalidParameterVal  = "22023"
	ConfigFileError      = "F0000"
	ConnectionException  = "08000"
	QueryCanceled        = "57014"
	IdleSessionTimeout   = "57P05"
	CrashShutdown        = "57P02"
	InvalidAuthorization = "28000"
)
