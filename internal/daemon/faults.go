package daemon

import (
	"sort"
	"sync"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
)

// Fault reasons the supervisor names (the applier's own reasons are added
// as they come). They are stable: status, logs and pgswitch_fault{reason}.
const (
	FaultDatabaseUnreachable = "database_unreachable"
	FaultCannotCommit        = "database_cannot_commit"
	FaultDiskFull            = "disk_full"
	FaultServiceCheck        = "service_check_failed"
	FaultApplierNotStreaming = "applier_not_streaming"
	FaultSyncDegraded        = "synchronous_degraded"
	FaultStraySlot           = "stray_slot"
	FaultPeerUnreachable     = "peer_unreachable"
	FaultWrongDatabase       = "wrong_database"
)

// knownFaults are always exported as metrics (0 or 1).
var knownFaults = []string{FaultDatabaseUnreachable, FaultCannotCommit, FaultDiskFull, FaultServiceCheck,
	FaultApplierNotStreaming, FaultSyncDegraded, FaultStraySlot, FaultPeerUnreachable, FaultWrongDatabase}

// faultSet holds the faults present now. A fault is confirmed once it has
// lasted supervision.fault_grace; only confirmed faults are reported and
// acted on, so a reconnect passes quietly.
type faultSet struct {
	mu sync.Mutex
	m  map[string]*faultEntry
}

type faultEntry struct {
	detail    string
	since     time.Time
	confirmed bool
}

// observe records whether a fault is present now; it returns true when the
// fault has just been confirmed or has just cleared (worth a log line).
func (f *faultSet) observe(reason, detail string, present bool, grace time.Duration) (changed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*faultEntry{}
	}
	e, ok := f.m[reason]
	switch {
	case !present && ok:
		delete(f.m, reason)
		return e.confirmed
	case !present:
		return false
	case !ok:
		e = &faultEntry{since: time.Now()}
		f.m[reason] = e
	}
	e.detail = detail
	if !e.confirmed && time.Since(e.since) >= grace {
		e.confirmed = true
		return true
	}
	return false
}

// confirmed lists the confirmed faults, by reason.
func (f *faultSet) confirmed() []api.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Fault
	for r, e := range f.m {
		if e.confirmed {
			out = append(out, api.Fault{Reason: r, Detail: e.detail, Since: e.since})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reason < out[j].Reason })
	return out
}

// has reports whether a confirmed fault with this reason is present, and
// since when.
func (f *faultSet) has(reason string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.m[reason]; ok && e.confirmed {
		return e.since, true
	}
	return time.Time{}, false
}
