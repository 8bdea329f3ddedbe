package supervise

import (
	"strings"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/replication"
)

// Reason names a fault. Reasons are stable: they appear in status, in logs
// and as the reason label of pgswitch_fault.
type Reason string

// The reasons the supervisor raises itself; the applier's own
// (replication.FaultReason) are reasons too, by the same name.
const (
	DatabaseUnreachable Reason = "database_unreachable"
	CannotCommit        Reason = "database_cannot_commit"
	DiskFull            Reason = "disk_full"
	ServiceCheck        Reason = "service_check_failed"
	ApplierNotStreaming Reason = "applier_not_streaming"
	SyncDegraded        Reason = "synchronous_degraded"
	StraySlot           Reason = "stray_slot"
	PeerUnreachable     Reason = "peer_unreachable"
	// FailoverRefused: the active's lease is gone and this standby cannot
	// prove it holds every acknowledged commit (SPEC §9 rule 4).
	FailoverRefused Reason = "failover_refused"
	// QuorumUnreachable: etcd does not answer this node.
	QuorumUnreachable Reason = "quorum_unreachable"
	WrongDatabase     Reason = Reason(replication.FaultWrongDatabase)
)

// Own are the supervisor's reasons, in a fixed order.
var Own = []Reason{DatabaseUnreachable, CannotCommit, DiskFull, ServiceCheck,
	ApplierNotStreaming, SyncDegraded, StraySlot, PeerUnreachable, FailoverRefused, QuorumUnreachable, WrongDatabase}

// Applier are the applier's reasons as fault reasons, in its order.
var Applier = func() []Reason {
	out := make([]Reason, 0, len(replication.AllFaults))
	for _, r := range replication.AllFaults {
		out = append(out, Reason(r))
	}
	return out
}()

// OfState is the fault a state that is itself a fault (FENCED, FAULT)
// reports, named after it.
func OfState(s handshake.State) Reason { return Reason(strings.ToLower(string(s))) }

// All is every reason a node can report, each once: the metrics export
// each as 0 or 1.
var All = func() []Reason {
	seen := map[Reason]bool{}
	var out []Reason
	for _, s := range handshake.States {
		if handshake.WantOf(s).Faulty {
			out = append(out, OfState(s))
		}
	}
	for _, r := range append(append([]Reason{}, Own...), Applier...) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}()

// fromApplier says whether a reason is the applier's (or its not
// streaming), the faults the applier's status raises and clears.
func fromApplier(r Reason) bool {
	if r == ApplierNotStreaming {
		return true
	}
	for _, a := range Applier {
		if a == r {
			return true
		}
	}
	return false
}
