package handshake

import "fmt"

// EventKind names what happened.
type EventKind string

// Events of the active side.
const (
	// EvPromote: the operator asked, and the preconditions held.
	EvPromote EventKind = "promote"
	// EvFenced: the database is fenced and the marker written (FenceLSN).
	EvFenced EventKind = "fenced"
	// EvPeerAgreed: the standby has applied the marker and agrees.
	EvPeerAgreed EventKind = "peer_agreed"
	// EvPeerRefused: the standby refused (fault, catch-up timeout).
	EvPeerRefused EventKind = "peer_refused"
	// EvFailed: a local step failed or timed out (before SWITCHING_OUT:
	// abort; from SWITCHING_OUT on: keep fenced, ask the peer).
	EvFailed EventKind = "failed"
	// EvSwitchedOut: service stopped and VIP released.
	EvSwitchedOut EventKind = "switched_out"
	// EvPeerActive: the peer is ACTIVE in Epoch with the reverse slot at
	// ReverseLSN.
	EvPeerActive EventKind = "peer_active"
	// EvPeerWillNotPromote: the peer confirms it did not and will not
	// promote in this switchover.
	EvPeerWillNotPromote EventKind = "peer_will_not_promote"
	// EvPeerUnreachable: the peer could not be asked.
	EvPeerUnreachable EventKind = "peer_unreachable"
)

// Events of the standby side.
const (
	// EvRequest: the active asks to switch (SwitchID, Epoch, FenceLSN).
	EvRequest EventKind = "request"
	// EvCaughtUp: the applier committed the switch marker.
	EvCaughtUp EventKind = "caught_up"
	// EvCatchupTimeout: switchover.catchup_timeout passed first.
	EvCatchupTimeout EventKind = "catchup_timeout"
	// EvLocalFault: a local fault is known (Reason).
	EvLocalFault EventKind = "local_fault"
	// EvFaultCleared: no local fault any more.
	EvFaultCleared EventKind = "fault_cleared"
	// EvSwitchOut: the active has released the VIP (SwitchID, Epoch).
	EvSwitchOut EventKind = "switch_out"
	// EvAbort: the active abandoned the switchover (SwitchID).
	EvAbort EventKind = "abort"
	// EvAgreeTimeout: no SWITCH_OUT came after agreeing.
	EvAgreeTimeout EventKind = "agree_timeout"
	// EvSwitchedIn: database writable, VIP bound, service started
	// (ReverseLSN).
	EvSwitchedIn EventKind = "switched_in"
)

// Events of the quorum (SPEC §9).
const (
	// EvLeaseLost: the holder did not renew its lease within two thirds
	// of its TTL, or etcd no longer knows it.
	EvLeaseLost EventKind = "lease_lost"
	// EvLeaseHeld: the leader key names this node in Epoch on a live
	// lease that it renews.
	EvLeaseHeld EventKind = "lease_held"
	// EvNewLeader: the leader key names the peer in a later Epoch.
	EvNewLeader EventKind = "new_leader"
	// EvLeaderGone: the leader key is absent (its lease expired) after
	// epoch Epoch; Unproven says which proof of holding every
	// acknowledged commit fails ("" when they all hold). SwitchID names
	// the takeover.
	EvLeaderGone EventKind = "leader_gone"
	// EvForceTakeover: pgswitch failover --accept-data-loss (SwitchID).
	EvForceTakeover EventKind = "force_takeover"
	// EvLeaderTaken: the quorum's transaction gave this node the leader
	// key in Epoch.
	EvLeaderTaken EventKind = "leader_taken"
	// EvClaimFailed: another node holds the leader key.
	EvClaimFailed EventKind = "claim_failed"
	// EvTakenOver: the old active's database fenced or silent, this
	// database writable, VIP bound, service started.
	EvTakenOver EventKind = "taken_over"
	// EvNothingLost: an old active behind a later Epoch found that the new
	// active applied every transaction it committed; ReverseLSN is the
	// new active's reverse slot, to follow from.
	EvNothingLost EventKind = "nothing_lost"
)

// EvRestart is fed once when the daemon starts, with the persisted state
// (Quorum says whether the node runs with one).
const EvRestart EventKind = "restart"

// Event is one input to Step.
type Event struct {
	Kind       EventKind
	SwitchID   string
	Epoch      uint64
	FenceLSN   string
	ReverseLSN string
	Reason     string
	// Unproven: EvLeaderGone's failing proof, "" when all hold.
	Unproven string
	// Quorum: the node runs with a quorum (the daemon sets it on every
	// event); edges that would make it writable then go through the
	// leader key first.
	Quorum bool
}

func (e Event) String() string {
	s := string(e.Kind)
	if e.SwitchID != "" {
		s += " switch=" + e.SwitchID
	}
	if e.Epoch != 0 {
		s += fmt.Sprintf(" epoch=%d", e.Epoch)
	}
	if e.FenceLSN != "" {
		s += " fence_lsn=" + e.FenceLSN
	}
	if e.ReverseLSN != "" {
		s += " reverse_lsn=" + e.ReverseLSN
	}
	if e.Reason != "" {
		s += fmt.Sprintf(" reason=%q", e.Reason)
	}
	if e.Unproven != "" {
		s += fmt.Sprintf(" unproven=%q", e.Unproven)
	}
	if e.Quorum {
		s += " quorum=true"
	}
	return s
}
