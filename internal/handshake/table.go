package handshake

// transition is one edge of the protocol.
type transition struct {
	from    State
	on      EventKind
	to      State
	guard   guard
	quorum  quorumMode
	apply   func(n *Node, e Event)
	actions []Action
	why     string
}

func startSwitch(n *Node, e Event) {
	n.SwitchID, n.FenceLSN, n.ReverseLSN, n.Reason = e.SwitchID, "", "", e.Reason
}
func setFence(n *Node, e Event)    { n.FenceLSN = e.FenceLSN }
func abandon(n *Node, e Event)     { n.refuse(e) }
func setReason(n *Node, e Event)   { n.Reason = e.Reason }
func clearReason(n *Node, _ Event) { n.Reason = "" }
func promoted(n *Node, e Event) {
	n.Epoch++
	n.ReverseLSN, n.Reason = e.ReverseLSN, ""
	n.PromotedBy, n.PromotedLSN = n.SwitchID, e.ReverseLSN
}
func startTakeover(n *Node, e Event) {
	n.SwitchID, n.FenceLSN, n.ReverseLSN, n.Reason = e.SwitchID, "", "", e.Reason
}

// tookLeader: the leader key is this node's in the new epoch; the takeover
// is pending (PromotedLSN empty) until EvTakenOver.
func tookLeader(n *Node, e Event) {
	n.Epoch, n.Reason = e.Epoch, ""
	n.PromotedBy, n.PromotedLSN = n.SwitchID, ""
}
func tookOver(n *Node, e Event) {
	n.ReverseLSN, n.PromotedLSN, n.Reason = e.ReverseLSN, e.ReverseLSN, ""
}

// takeoverPending: the node took the leader key in a takeover that has
// not finished switching in.
func takeoverPending(n Node) bool {
	return n.PromotedBy != "" && n.PromotedBy == n.SwitchID && n.PromotedLSN == ""
}

func follow(n *Node, e Event) {
	n.Epoch, n.ReverseLSN, n.Reason = e.Epoch, e.ReverseLSN, ""
	n.PromotedBy, n.PromotedLSN = "", ""
}

// table is the whole protocol. Anything not listed is rejected.
var table = []transition{
	// ── The active side ──────────────────────────────────────────────
	{from: Active, on: EvPromote, to: RequestingSwitch, guard: newSwitch, apply: startSwitch, actions: []Action{ActFence},
		why: "fence writes and write the switch marker before asking"},
	{from: RequestingSwitch, on: EvFenced, to: RequestingSwitch, guard: sameSwitch, apply: setFence, actions: []Action{ActSendRequest},
		why: "ask the standby, giving it the fence LSN"},
	{from: RequestingSwitch, on: EvPeerAgreed, to: SwitchingOut, guard: sameSwitch, actions: []Action{ActSwitchOut},
		why: "the standby has everything: stop the service, release the VIP"},
	{from: RequestingSwitch, on: EvPeerRefused, to: Active, guard: sameSwitch, apply: abandon, actions: []Action{ActUnfenceWritable},
		why: "refused before step 4: unfence and keep serving"},
	{from: RequestingSwitch, on: EvFailed, to: Active, guard: sameSwitch, apply: abandon, actions: []Action{ActUnfenceWritable, ActSendAbort},
		why: "an error or timeout before step 4 aborts; nothing is lost"},
	{from: RequestingSwitch, on: EvRestart, to: Active, quorum: noQuorum, apply: abandon, actions: []Action{ActUnfenceWritable, ActSendAbort},
		why: "restarted before step 4: abort the switchover"},
	{from: RequestingSwitch, on: EvRestart, to: Resuming, quorum: withQuorum, apply: abandon, actions: []Action{ActSendAbort, ActHoldLease},
		why: "restarted before step 4 with a quorum: abort, and serve only once the leader key is confirmed"},
	{from: SwitchingOut, on: EvSwitchedOut, to: SwitchingOut, guard: sameSwitch, actions: []Action{ActSendSwitchOut},
		why: "tell the standby to switch in"},
	{from: SwitchingOut, on: EvFailed, to: SwitchingOut, guard: sameSwitch, actions: []Action{ActQueryPeer},
		why: "from step 4 on never unfence alone: ask the peer what it did"},
	{from: SwitchingOut, on: EvPeerActive, to: Standby, guard: nextEpoch, apply: follow, actions: []Action{ActFollow},
		why: "the peer is active in epoch+1: follow it from the reverse slot"},
	{from: SwitchingOut, on: EvPeerWillNotPromote, to: Active, guard: sameSwitch, quorum: noQuorum, apply: abandon, actions: []Action{ActUnfenceWritable, ActResume},
		why: "the peer confirms it did not and will not promote: serve again"},
	{from: SwitchingOut, on: EvPeerWillNotPromote, to: Resuming, guard: sameSwitch, quorum: withQuorum, apply: abandon, actions: []Action{ActHoldLease},
		why: "the peer will not promote: serve again once the leader key is confirmed (its lease may have run out meanwhile)"},
	{from: SwitchingOut, on: EvPeerUnreachable, to: Fenced, guard: sameSwitch, apply: setReason,
		why: "cannot prove that it may serve: safety before availability"},
	{from: SwitchingOut, on: EvRestart, to: SwitchingOut, actions: []Action{ActQueryPeer},
		why: "restarted after step 4: ask the peer"},
	{from: Fenced, on: EvPeerActive, to: Standby, guard: nextEpoch, apply: follow, actions: []Action{ActFollow},
		why: "the peer became active: follow it"},
	{from: Fenced, on: EvPeerWillNotPromote, to: Active, guard: sameSwitch, quorum: noQuorum, apply: abandon, actions: []Action{ActUnfenceWritable, ActResume},
		why: "the peer confirms it will not promote: serve again"},
	{from: Fenced, on: EvPeerWillNotPromote, to: Resuming, guard: sameSwitch, quorum: withQuorum, apply: abandon, actions: []Action{ActHoldLease},
		why: "the peer will not promote: serve again once the leader key is confirmed"},
	{from: Fenced, on: EvPeerUnreachable, to: Fenced, apply: setReason,
		why: "still cannot reach the peer: stay fenced"},
	{from: Fenced, on: EvRestart, to: Fenced, actions: []Action{ActQueryPeer},
		why: "restarted while fenced: ask the peer again"},
	{from: Active, on: EvRestart, to: Active, quorum: noQuorum, actions: []Action{ActUnfenceWritable, ActResume},
		why: "restarted while active: writable, VIP bound, service running"},

	// ── The active and its lease (SPEC §9) ───────────────────────────
	{from: Active, on: EvRestart, to: Resuming, quorum: withQuorum, actions: []Action{ActHoldLease},
		why: "restarted with a quorum: read-only until the leader key is confirmed as this node's"},
	{from: Resuming, on: EvLeaseHeld, to: Active, guard: currentEpoch, actions: []Action{ActUnfenceWritable, ActResume},
		why: "the leader key names this node in its epoch: serve"},
	{from: Resuming, on: EvLeaseLost, to: SelfFenced, apply: setReason, actions: []Action{ActSelfFence},
		why: "the leader key could not be confirmed: stop taking writes"},
	{from: Resuming, on: EvNewLeader, to: SelfFenced, guard: laterEpoch, apply: setReason, actions: []Action{ActSelfFence},
		why: "the peer leads a later epoch: never serve again by itself"},
	{from: Resuming, on: EvRestart, to: Resuming, actions: []Action{ActHoldLease},
		why: "restarted before the key was confirmed: confirm it"},
	{from: Active, on: EvLeaseLost, to: SelfFenced, apply: setReason, actions: []Action{ActSelfFence},
		why: "not renewed within 2/3 of the TTL: stop taking writes before etcd can let the standby in"},
	{from: Active, on: EvNewLeader, to: SelfFenced, guard: laterEpoch, apply: setReason, actions: []Action{ActSelfFence},
		why: "the peer leads a later epoch: stop taking writes at once"},
	{from: RequestingSwitch, on: EvLeaseLost, to: SelfFenced, apply: abandon, actions: []Action{ActSelfFence, ActSendAbort},
		why: "the lease lost before step 4: abandon the switchover and stay fenced"},
	{from: SelfFenced, on: EvLeaseHeld, to: Active, guard: currentEpochSettled, apply: clearReason, actions: []Action{ActUnfenceWritable, ActResume},
		why: "the key still (or again) names this node in its epoch on a live lease: serve again"},
	{from: SelfFenced, on: EvLeaseHeld, to: TakingOver, guard: currentEpochPending, apply: clearReason, actions: []Action{ActTakeOver},
		why: "the key is this node's again and its takeover is unfinished: finish it first"},
	{from: SelfFenced, on: EvNewLeader, to: SelfFenced, guard: laterEpoch, apply: setReason,
		why: "the peer leads a later epoch: never serve again by itself (pgswitch rejoin)"},
	{from: SelfFenced, on: EvNothingLost, to: Standby, guard: laterEpoch, apply: follow, actions: []Action{ActFollow, ActRunApplier},
		why: "the new active holds every transaction this node committed: follow it from its reverse slot, no re-copy"},
	{from: SelfFenced, on: EvRestart, to: SelfFenced, actions: []Action{ActSelfFence},
		why: "restarted fenced: fence again, then try to regain the key"},

	// ── The standby side ─────────────────────────────────────────────
	{from: Standby, on: EvRequest, to: Standby, guard: knownRequest, apply: func(n *Node, e Event) {
		n.SwitchID, n.FenceLSN, n.Reason = e.SwitchID, e.FenceLSN, ""
	}, actions: []Action{ActWaitCatchUp},
		why: "stay STANDBY until the marker is applied"},
	{from: Standby, on: EvCaughtUp, to: AgreeSwitch, guard: sameSwitch, actions: []Action{ActReplyAgree},
		why: "replayed everything the active committed: agree"},
	{from: Standby, on: EvCatchupTimeout, to: Standby, guard: sameSwitch, apply: abandon, actions: []Action{ActReplyRefuse},
		why: "not caught up within catchup_timeout: refuse"},
	{from: Standby, on: EvAbort, to: Standby, guard: sameSwitch, apply: abandon, actions: []Action{ActReplyRefuse},
		why: "the active gave up while we caught up"},
	{from: Standby, on: EvLocalFault, to: Fault, apply: func(n *Node, e Event) { n.refuse(e); n.Reason = e.Reason }, actions: []Action{ActReplyRefuse, ActRunApplier},
		why: "a fault: never become active; refuse a pending request"},
	{from: Standby, on: EvRestart, to: Standby, actions: []Action{ActRunApplier},
		why: "restarted as standby: stream"},
	{from: Fault, on: EvRequest, to: Fault, guard: knownRequest, apply: func(n *Node, e Event) {
		n.SwitchID = e.SwitchID
		n.refuse(Event{})
	}, actions: []Action{ActReplyRefuse},
		why: "a node with a fault refuses"},
	{from: Fault, on: EvLocalFault, to: Fault, apply: setReason, actions: []Action{ActRunApplier},
		why: "still (or differently) faulty"},
	{from: Fault, on: EvFaultCleared, to: Standby, apply: clearReason, actions: []Action{ActRunApplier},
		why: "the fault cleared: a healthy standby again"},
	{from: Fault, on: EvRestart, to: Fault, actions: []Action{ActRunApplier},
		why: "restarted with a fault: stream, and re-check"},
	{from: AgreeSwitch, on: EvSwitchOut, to: SwitchingIn, guard: sameEpoch, actions: []Action{ActSwitchIn},
		why: "the active released the VIP: promote"},
	{from: AgreeSwitch, on: EvAbort, to: Standby, guard: sameSwitch, apply: abandon, actions: []Action{ActRunApplier},
		why: "the active abandoned the switchover (or asks): will not promote"},
	{from: AgreeSwitch, on: EvAgreeTimeout, to: Standby, guard: sameSwitch, apply: abandon, actions: []Action{ActRunApplier},
		why: "no SWITCH_OUT in time: will not promote this switchover"},
	{from: AgreeSwitch, on: EvLocalFault, to: Fault, apply: func(n *Node, e Event) { n.refuse(e); n.Reason = e.Reason }, actions: []Action{ActRunApplier},
		why: "a fault before SWITCH_OUT: will not promote"},
	{from: AgreeSwitch, on: EvRestart, to: Standby, apply: abandon, actions: []Action{ActRunApplier},
		why: "restarted after agreeing: the switchover is abandoned"},
	{from: SwitchingIn, on: EvSwitchedIn, to: Active, guard: sameSwitch, apply: promoted, actions: []Action{ActReplyActive},
		why: "writable, VIP bound, service started: ACTIVE in epoch+1"},
	{from: SwitchingIn, on: EvFailed, to: SwitchingIn, guard: sameSwitch, apply: setReason, actions: []Action{ActSwitchIn},
		why: "never give back: retry switching in"},
	{from: SwitchingIn, on: EvRestart, to: SwitchingIn, actions: []Action{ActSwitchIn},
		why: "restarted while switching in: finish it"},

	// ── The standby's takeover (SPEC §9) ─────────────────────────────
	{from: Standby, on: EvLeaderGone, to: Claiming, guard: proven, apply: startTakeover, actions: []Action{ActClaimLeader},
		why: "the active's lease expired and every proof holds: claim the leader key at epoch+1"},
	{from: Standby, on: EvForceTakeover, to: Claiming, guard: forced, apply: startTakeover, actions: []Action{ActClaimLeader},
		why: "the operator accepts the data loss: claim without the proof of catch-up"},
	{from: Claiming, on: EvLeaderTaken, to: TakingOver, guard: nextEpoch, apply: tookLeader, actions: []Action{ActTakeOver},
		why: "the key is this node's in epoch+1: fence the old database if it answers, then switch in"},
	{from: Claiming, on: EvClaimFailed, to: Standby, guard: sameSwitch, apply: abandon, actions: []Action{ActRunApplier},
		why: "another node holds the key (the active renewed in time, or came back first): stay a standby"},
	{from: Claiming, on: EvRestart, to: Claiming, actions: []Action{ActClaimLeader},
		why: "restarted while claiming: the claim is idempotent"},
	{from: TakingOver, on: EvTakenOver, to: Active, guard: sameSwitch, apply: tookOver,
		why: "the old database fenced or silent, writable, VIP bound, service started: ACTIVE"},
	{from: TakingOver, on: EvFailed, to: TakingOver, guard: sameSwitch, apply: setReason, actions: []Action{ActTakeOver},
		why: "the key is this node's: never give back, retry"},
	{from: TakingOver, on: EvLeaseLost, to: SelfFenced, apply: setReason, actions: []Action{ActSelfFence},
		why: "the new lease lost before the takeover finished: stop taking writes"},
	{from: TakingOver, on: EvRestart, to: TakingOver, actions: []Action{ActTakeOver},
		why: "restarted while taking over: finish it"},
}
