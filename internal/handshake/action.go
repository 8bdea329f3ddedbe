package handshake

// Action is something the daemon must do after persisting the new state.
// Each one ends by feeding an event back (noted beside it).
type Action string

// Actions of the active side.
const (
	// Fence the database (no new client connections, read-only sessions,
	// end open client sessions), write the switch marker → EvFenced or
	// EvFailed.
	ActFence Action = "fence"
	// Send the request with the fence LSN and wait for the answer →
	// EvPeerAgreed, EvPeerRefused or EvFailed.
	ActSendRequest Action = "send_request"
	// Tell the peer the switch is abandoned (best effort, no event).
	ActSendAbort Action = "send_abort"
	// Make the database take writes again (ACTIVE).
	ActUnfenceWritable Action = "unfence_writable"
	// Stop the service program and release the VIP → EvSwitchedOut or
	// EvFailed.
	ActSwitchOut Action = "switch_out"
	// Tell the peer it may switch in, and wait for it → EvPeerActive,
	// EvPeerWillNotPromote or EvPeerUnreachable.
	ActSendSwitchOut Action = "send_switch_out"
	// Ask the peer what it did with the switch → EvPeerActive,
	// EvPeerWillNotPromote or EvPeerUnreachable.
	ActQueryPeer Action = "query_peer"
	// Bind the VIP and start the service program again (abort after
	// SWITCHING_OUT, confirmed by the peer).
	ActResume Action = "resume"
	// Become the standby of the new active: lift the fence read-only, drop
	// the old slot, set the origin to the reverse slot's point; the
	// reconcile loop then runs the applier (no event).
	ActFollow Action = "follow"
)

// Reply is the answer the actions give to the request that fed their
// event: ActReplyAgree, ActReplyRefuse, ActReplyActive, or ActWaitCatchUp
// (no answer yet: wait, and step the outcome); "" when they give none (the
// handler then refuses, as the event was not taken).
func Reply(acts []Action) Action {
	for _, a := range acts {
		switch a {
		case ActReplyAgree, ActReplyRefuse, ActReplyActive, ActWaitCatchUp:
			return a
		}
	}
	return ""
}

// Actions of the standby side.
const (
	// Wait until the applier has committed the marker, within
	// catchup_timeout → EvCaughtUp or EvCatchupTimeout.
	ActWaitCatchUp Action = "wait_catch_up"
	// Answer the pending request: agree.
	ActReplyAgree Action = "reply_agree"
	// Answer the pending request: refuse, with the reason.
	ActReplyRefuse Action = "reply_refuse"
	// Stop the applier, copy sequences, create the reverse slot, make the
	// database writable, bind the VIP, start the service → EvSwitchedIn or
	// EvFailed (retried: a node in SWITCHING_IN never goes back).
	ActSwitchIn Action = "switch_in"
	// Answer the active's SWITCH_OUT: ACTIVE in the new epoch.
	ActReplyActive Action = "reply_active"
	// Keep (or start) the applier.
	ActRunApplier Action = "run_applier"
)

// Actions of the quorum (SPEC §9).
const (
	// Fence the database without a marker, end client sessions, release
	// the VIP, stop the service (no event; the lease holder goes on
	// trying to regain the key → EvLeaseHeld or EvNewLeader).
	ActSelfFence Action = "self_fence"
	// Make sure the leader key is this node's before it takes writes
	// → EvLeaseHeld, EvLeaseLost or EvNewLeader.
	ActHoldLease Action = "hold_lease"
	// Take the leader key at epoch+1 in one transaction that compares it
	// absent (idempotent: a key already naming this node at epoch+1 is
	// taken) → EvLeaderTaken or EvClaimFailed.
	ActClaimLeader Action = "claim_leader"
	// Fence the old active's database if it answers (tightly bounded),
	// stop the applier, carry the sequences past the published positions,
	// create the reverse slot, make the database writable, bind the VIP,
	// start the service → EvTakenOver or EvFailed (retried: the key is
	// this node's, it never goes back).
	ActTakeOver Action = "take_over"
)
