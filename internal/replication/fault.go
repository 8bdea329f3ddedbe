package replication

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pgswitch/pgswitch/internal/pgutil"
)

// FaultReason names why the applier cannot keep the standby in sync. The
// names are stable: they appear in status, logs and the
// pgswitch_fault{reason} metric.
type FaultReason string

// The applier's faults.
const (
	FaultPrimaryUnreachable FaultReason = "primary_unreachable"
	FaultStandbyUnreachable FaultReason = "standby_db_unreachable"
	FaultMissingSlot        FaultReason = "missing_slot"
	FaultSlotInUse          FaultReason = "slot_in_use"
	FaultMissingOrigin      FaultReason = "missing_origin"
	FaultMissingSchema      FaultReason = "missing_pgswitch_schema"
	FaultMissingTable       FaultReason = "missing_table"
	FaultSchemaDrift        FaultReason = "schema_drift"
	FaultTypeMismatch       FaultReason = "cannot_apply_value"
	FaultNoIdentity         FaultReason = "no_replica_identity"
	FaultDivergence         FaultReason = "divergence"
	FaultDiskFull           FaultReason = "apply_disk_full"
	FaultApply              FaultReason = "apply_error"
	FaultStream             FaultReason = "stream_error"
	// FaultOwnChanges: the stream carries a transaction that the active's
	// own applier wrote (it has a replication origin), that is changes
	// that came from this node: the slot stands before the switch-in that
	// made the active, and applying would replay this node's own past.
	FaultOwnChanges FaultReason = "replayed_own_changes"
	// FaultWrongDatabase: a connection reached a database cluster other
	// than the one the node was initialised on (a new initdb on the same
	// port, a DSN pointing elsewhere): nothing is taken there.
	FaultWrongDatabase FaultReason = "wrong_database"
)

// AllFaults is every reason above, once, in the order above: the metrics
// export each of them (0 or 1), so a new reason belongs here too.
var AllFaults = []FaultReason{FaultPrimaryUnreachable, FaultStandbyUnreachable, FaultMissingSlot, FaultSlotInUse,
	FaultMissingOrigin, FaultMissingSchema, FaultMissingTable, FaultSchemaDrift, FaultTypeMismatch, FaultNoIdentity,
	FaultDivergence, FaultDiskFull, FaultApply, FaultStream, FaultOwnChanges, FaultWrongDatabase}

// Fault is a named reason plus what exactly went wrong.
type Fault struct {
	Reason FaultReason
	Detail string
	Err    error
}

func (f *Fault) Error() string {
	if f.Err != nil && !strings.Contains(f.Detail, f.Err.Error()) {
		return fmt.Sprintf("%s: %s: %v", f.Reason, f.Detail, f.Err)
	}
	return fmt.Sprintf("%s: %s", f.Reason, f.Detail)
}

func (f *Fault) Unwrap() error { return f.Err }

// connection reports whether the fault is about reaching the servers
// rather than about the data.
func (f *Fault) connection() bool {
	switch f.Reason {
	case FaultPrimaryUnreachable, FaultStandbyUnreachable, FaultMissingSlot, FaultSlotInUse, FaultStream:
		return true
	}
	return false
}

// AsFault returns the Fault in err's chain, if any.
func AsFault(err error) (*Fault, bool) {
	var f *Fault
	if errors.As(err, &f) {
		return f, true
	}
	return nil, false
}

// classify names an error from the standby database while applying.
func classify(err error, rel *relation) error {
	if _, ok := AsFault(err); ok {
		return err
	}
	table := "a table"
	if rel != nil {
		table = rel.String()
	}
	state := pgutil.SQLState(err)
	switch {
	case state == pgutil.UndefinedTable:
		return &Fault{Reason: FaultMissingTable, Detail: fmt.Sprintf("table %s does not exist on the standby", table), Err: err}
	case state == pgutil.UndefinedColumn || state == "428C9" || state == pgutil.DatatypeMismatch:
		return &Fault{Reason: FaultSchemaDrift, Detail: fmt.Sprintf("table %s differs between the nodes", table), Err: err}
	case strings.HasPrefix(state, "22"):
		return &Fault{Reason: FaultTypeMismatch, Detail: fmt.Sprintf("a value for %s cannot be stored on the standby", table), Err: err}
	case strings.HasPrefix(state, "23"):
		return &Fault{Reason: FaultDivergence, Detail: fmt.Sprintf("a change to %s violates a constraint on the standby: the data differ", table), Err: err}
	case state == pgutil.DiskFull:
		return &Fault{Reason: FaultDiskFull, Detail: "the standby's disk is full", Err: err}
	case state == "":
		return &Fault{Reason: FaultStandbyUnreachable, Detail: "lost the connection to the standby database", Err: err}
	}
	return &Fault{Reason: FaultApply, Detail: fmt.Sprintf("applying to %s failed", table), Err: err}
}
