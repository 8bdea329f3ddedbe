package replication

import (
	"time"

	"github.com/jackc/pglogrepl"
)

// LSN is a WAL position.
type LSN = pglogrepl.LSN

// ParseLSN parses the text form of a WAL position ("16/B374D848").
func ParseLSN(s string) (LSN, error) { return pglogrepl.ParseLSN(s) }

// Status is a snapshot of the applier, for the API, metrics and the
// handshake's catch-up proof.
type Status struct {
	Running   bool // Run is active
	Streaming bool // a session is up and receiving from the primary
	Fault     *Fault

	ReceivedLSN LSN // last position received from the primary
	AppliedLSN  LSN // end of the last source transaction committed locally
	FlushedLSN  LSN // reported to the primary as durably applied
	PrimaryLSN  LSN // the primary's current WAL position (polled)

	LagBytes   int64   // PrimaryLSN - AppliedLSN (0 when caught up)
	LagSeconds float64 // age of the last applied source commit while behind
	LastCommit time.Time

	AppliedTxns    uint64
	AppliedGroups  uint64 // local transactions that applied them (fewer when grouped)
	LargestGroup   int    // most source transactions applied in one local transaction
	AppliedChanges uint64
	AppliedBytes   uint64
	Sessions       uint64 // sessions started (1 + reconnects)
	NotFound       uint64 // UPDATE/DELETE that matched no row (divergence)

	// Markers are the pgswitch logical messages applied, newest last (a few).
	Markers []Marker
	Updated time.Time
}

// Marker is a pgswitch logical decoding message that the applier committed.
type Marker struct {
	Content string
	EndLSN  LSN // end of the source transaction that carried it
}

// HasMarker reports whether the marker with this content was applied.
func (s Status) HasMarker(content string) (LSN, bool) {
	for _, m := range s.Markers {
		if m.Content == content {
			return m.EndLSN, true
		}
	}
	return 0, false
}
