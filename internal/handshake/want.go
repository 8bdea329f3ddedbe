package handshake

// Want is what a state asks of the world, beside the transitions: the
// daemon's reconcile loop compares it with what it observes on every event
// and every tick and repairs the difference (level-triggered), so no
// decision about a resource is made from the state anywhere else.
//
// "As is" means the state's own actions own the resource at that moment
// (a switch-in binds the VIP itself, in its order), and reconcile must not
// touch it.
type Want struct {
	// Applier: stream from the peer and apply (a standby, also one with
	// a fault, which keeps streaming and re-checks).
	Applier Presence
	// VIP: the service address on this node.
	VIP Presence
	// Clients: what client sessions of the database may do.
	Clients ClientMode
	// SyncNames: synchronous_standby_names as the synchronous policy
	// wants it (the active), cleared (a standby: nobody waits on it), or
	// left as the handshake set it.
	SyncNames SyncWant
	// ServiceCheck: service.check runs (the service serves only here).
	ServiceCheck bool
	// CommitProbe: the monitor commits a tiny transaction each interval,
	// because only the active must be able to commit.
	CommitProbe bool
	// SweepSlots: pgswitch's own slots that this role does not use may be
	// dropped; outside the resting states a switch-in may be creating one.
	SweepSlots bool
	// PeerSlotAbsent: the slot the peer followed this node from while it
	// was active must be gone (a standby never keeps it: it retains WAL,
	// and a later switch-in must not take it for its reverse slot).
	PeerSlotAbsent bool
	// QueryPeer: ask the peer, every few seconds, what became of the
	// switchover (only the peer's answer can lift a FENCED node).
	QueryPeer bool
	// LocalFaults: local faults move the node between STANDBY and FAULT.
	LocalFaults bool
	// SelfSwitchover: a lasting fault that makes this node unfit to serve
	// may start a switchover from it (failover.auto).
	SelfSwitchover bool
	// InSwitchover: a switchover is in progress (log lines carry its id).
	InSwitchover bool
	// RelayPromote: `pgswitch promote` run at this node is relayed to the
	// active one (a standby asks the active to switch to it).
	RelayPromote bool
	// Backend: what the load balancer's probes (GET /primary, /replica)
	// may say of this node, given a database that answers as it should.
	Backend Backend
	// Faulty: the state itself is a fault an operator should see in
	// status (FAULT, FENCED); supervision raises and clears it only in
	// the states with LocalFaults.
	Faulty bool
	// Outgoing: this node is the one handing its role over in the
	// switchover in progress (the old active).
	Outgoing bool
	// KeepsPeerSlot: the slot the peer streams from is this node's to
	// keep even while nobody reads it (the active's; a sweep spares it).
	KeepsPeerSlot bool
	// Runs: a daemon may start from a record in this state (an
	// interrupted initial copy must be run again first).
	Runs bool
	// Leader: what the node does with the quorum's leader key (with a
	// quorum configured; without one nothing).
	Leader LeaderWant
	// Role: what `pgswitch init` finds a node recorded in this state to
	// be, and so whether init may run on it again (it only verifies a
	// node of its own role, resumes a copy, and refuses the rest).
	Role Role
}

// LeaderWant is what a node does with the leader key.
type LeaderWant int

// The leader wants.
const (
	LeaderNone   LeaderWant = iota
	LeaderHold              // renew the lease; a renewal late by 2/3 of the TTL is EvLeaseLost
	LeaderRegain            // try to have the key at this node's epoch again (never a later one): EvLeaseHeld or EvNewLeader
	LeaderWatch             // watch it; its absence is EvLeaderGone
	LeaderClaim             // the claim action owns it
)

func (l LeaderWant) String() string {
	return [...]string{"none", "hold", "regain", "watch", "claim"}[l]
}

// Role is what a node was initialised as.
type Role string

// The roles; RoleNone is a node in the middle of a switchover or fenced.
const (
	RoleNone    Role = ""
	RolePrimary Role = "primary"
	RoleStandby Role = "standby"
	RoleCopying Role = "copying" // init --role standby did not finish
)

// Backend is what the load balancer's probes say of a node.
type Backend int

// The backends.
const (
	BackendNone    Backend = iota
	BackendPrimary         // GET /primary answers 200 when clients can write
	BackendReplica         // GET /replica answers 200 when streaming within max_lag_bytes
)

// Presence says whether a resource must be present, absent, or is left to
// the state's actions.
type Presence int

// The presences.
const (
	AsIs Presence = iota
	Present
	Absent
)

func (p Presence) String() string {
	switch p {
	case Present:
		return "present"
	case Absent:
		return "absent"
	}
	return "as is"
}

// ClientMode is what client sessions may do with the database.
type ClientMode string

// The client modes; ClientsAsIs leaves the mode to the state's actions.
const (
	ClientsAsIs     ClientMode = ""
	ClientsWritable ClientMode = "writable"
	ClientsReadOnly ClientMode = "read_only"
	ClientsFenced   ClientMode = "fenced"
)

// SyncWant is what synchronous_standby_names should be.
type SyncWant int

// The synchronous wants.
const (
	SyncAsIs   SyncWant = iota
	SyncPolicy          // as the synchronous policy says (the active)
	SyncClear           // empty: nobody waits for this node's standby
)

// WantOf says what a state wants. An unknown state wants nothing changed.
func WantOf(s State) Want {
	w := wantOf(s)
	w.Runs = s.Valid() && s != Initializing
	switch s {
	case Active:
		w.Role = RolePrimary
	case Standby, Fault:
		w.Role = RoleStandby
	case Initializing:
		w.Role = RoleCopying
	}
	return w
}

func wantOf(s State) Want {
	switch s {
	case Active:
		return Want{Applier: Absent, VIP: Present, Clients: ClientsWritable, SyncNames: SyncPolicy,
			ServiceCheck: true, CommitProbe: true, SweepSlots: true, SelfSwitchover: true,
			Backend: BackendPrimary, KeepsPeerSlot: true, Leader: LeaderHold}
	case RequestingSwitch:
		// Fenced by its own action; the VIP stays until SWITCHING_OUT.
		return Want{Applier: Absent, InSwitchover: true, Outgoing: true, Leader: LeaderHold}
	case SwitchingOut:
		// The lease is renewed until the new active moves the key.
		return Want{Applier: Absent, VIP: Absent, InSwitchover: true, Outgoing: true, Leader: LeaderHold}
	case Fenced:
		// Renewed while the peer is asked: no takeover behind the back
		// of a switchover that is being resolved.
		return Want{Applier: Absent, VIP: Absent, Clients: ClientsFenced, QueryPeer: true, InSwitchover: true,
			Outgoing: true, Faulty: true, Leader: LeaderHold}
	case Standby:
		return Want{Applier: Present, VIP: Absent, Clients: ClientsReadOnly, SyncNames: SyncClear,
			SweepSlots: true, PeerSlotAbsent: true, LocalFaults: true, RelayPromote: true, Backend: BackendReplica,
			Leader: LeaderWatch}
	case Fault:
		return Want{Applier: Present, VIP: Absent, Clients: ClientsReadOnly, SyncNames: SyncClear,
			SweepSlots: true, PeerSlotAbsent: true, LocalFaults: true, RelayPromote: true, Faulty: true,
			Leader: LeaderWatch}
	case AgreeSwitch:
		return Want{Applier: Present, VIP: Absent, InSwitchover: true, Leader: LeaderWatch}
	case SwitchingIn:
		// The switch-in stops the applier, moves the leader key, makes
		// the database writable and binds the VIP itself, in that order.
		return Want{InSwitchover: true}
	case Resuming:
		// Read-only (sessions kept, no new writes) until the key is
		// confirmed; the VIP stays as the restart found it, so a daemon
		// restart costs a moment of read-only, not the connections.
		return Want{Applier: Absent, Clients: ClientsReadOnly, Leader: LeaderRegain}
	case SelfFenced:
		return Want{Applier: Absent, VIP: Absent, Clients: ClientsFenced, Faulty: true, Leader: LeaderRegain}
	case Claiming:
		return Want{Applier: Present, VIP: Absent, Clients: ClientsReadOnly, InSwitchover: true, Leader: LeaderClaim}
	case TakingOver:
		// The takeover fences the old database, stops the applier, makes
		// this one writable and binds the VIP itself, in that order.
		return Want{InSwitchover: true, Leader: LeaderHold}
	}
	return Want{}
}

// MayWrite says whether clients may write on a node in this state as far
// as its wants go (ACTIVE), or may come to while its actions run
// (SWITCHING_IN and TAKING_OVER make the database writable). At most one
// node of a pair may be in such a state at any time.
func MayWrite(s State) bool { return s == Active || s == SwitchingIn || s == TakingOver }

// MayHoldVIP says whether a node in this state may hold the VIP: wanted
// (ACTIVE), or left to its actions (REQUESTING_SWITCH keeps it until it
// switches out; SWITCHING_IN binds it).
func MayHoldVIP(s State) bool { return WantOf(s).VIP != Absent && s.Valid() && s != Initializing }
