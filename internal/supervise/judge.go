package supervise

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/replication"
)

// Observation is one fault's presence as a check saw it.
type Observation struct {
	Reason  Reason
	Detail  string
	Present bool
}

// ApplierObservations says what the applier's status raises and clears:
// its own fault, or applier_not_streaming, and every other applier reason
// absent. wrong_database is left out: the monitor's own check of the
// local database notes it together with the applier's.
func ApplierObservations(s replication.Status, running bool) []Observation {
	var now Observation
	switch {
	case !running:
	case s.Fault != nil && s.Fault.Reason == replication.FaultWrongDatabase:
	case s.Fault != nil:
		now = Observation{Reason: Reason(s.Fault.Reason), Detail: s.Fault.Error(), Present: true}
	case !s.Streaming:
		now = Observation{Reason: ApplierNotStreaming, Detail: "the applier is not streaming from the active node", Present: true}
	}
	var out []Observation
	for _, r := range append([]Reason{ApplierNotStreaming}, Applier...) {
		switch {
		case r == WrongDatabase:
		case r == now.Reason:
			out = append(out, now)
		default:
			out = append(out, Observation{Reason: r})
		}
	}
	return out
}

// StandbyUnfit names the first confirmed fault that makes a standby unfit
// to become active, or "". The primary being unreachable is not the
// standby's own fault; the peer's API, a stray slot or a suspended
// synchronous mode are not the standby's data.
func StandbyUnfit(confirmed []api.Fault) string {
	for _, f := range confirmed {
		r := Reason(f.Reason)
		switch {
		case r == DatabaseUnreachable, r == DiskFull:
			return f.Reason + ": " + f.Detail
		case fromApplier(r) && r != Reason(replication.FaultPrimaryUnreachable):
			return f.Detail
		}
	}
	return ""
}

// UnfitToServe are the faults that let an active hand its role over by
// itself (failover.auto), in the order they are considered. A database
// that is down altogether is not one: without a fence and a marker
// nothing proves that the standby has every acknowledged commit.
var UnfitToServe = []Reason{ServiceCheck, DiskFull, CannotCommit}

// DiskFree observes the free space of path's filesystem against minFree
// percent; no path or no minimum observes nothing present.
func DiskFree(path string, minFree int) Observation {
	if path == "" || minFree <= 0 {
		return Observation{Reason: DiskFull}
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return Observation{Reason: DiskFull, Detail: fmt.Sprintf("cannot read the free space of %s: %v", path, err), Present: true}
	}
	free := float64(fs.Bavail) * 100 / float64(fs.Blocks)
	return Observation{Reason: DiskFull, Present: free < float64(minFree),
		Detail: fmt.Sprintf("%.1f%% free on %s (supervision.disk_min_free_percent=%d)", free, path, minFree)}
}
