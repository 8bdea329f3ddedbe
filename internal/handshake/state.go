package handshake

// State is a node's role in the handshake (SPEC §2).
type State string

// The states. ACTIVE and STANDBY are the resting states; the others exist
// only during a switchover, except FENCED and FAULT.
const (
	Active           State = "ACTIVE"
	RequestingSwitch State = "REQUESTING_SWITCH"
	SwitchingOut     State = "SWITCHING_OUT"
	Standby          State = "STANDBY"
	AgreeSwitch      State = "AGREE_SWITCH"
	SwitchingIn      State = "SWITCHING_IN"
	Fenced           State = "FENCED"
	Fault            State = "FAULT"
	// The unplanned failover's states (SPEC §9). SelfFenced: an active
	// that lost its lease (or restarted with a quorum and has not regained
	// it) stopped taking writes. Claiming: a standby asks the quorum for
	// the leader key at epoch+1. TakingOver: the key is this node's; it
	// fences the old active's database if it answers and switches in.
	// Resuming: an active restarted with a quorum leaves its database as
	// it is until the leader key is confirmed as its own.
	Resuming   State = "RESUMING"
	SelfFenced State = "SELF_FENCED"
	Claiming   State = "CLAIMING"
	TakingOver State = "TAKING_OVER"
	// Initializing is pgswitch's own: `init --role standby` is copying the
	// data; the node is neither a standby yet nor eligible for anything.
	Initializing State = "INITIALIZING"
)

// States are the states a running daemon can be in (not Initializing), in
// the order above: the metrics export each.
var States = []State{Active, RequestingSwitch, SwitchingOut, Standby, AgreeSwitch, SwitchingIn, Fenced, Fault,
	Resuming, SelfFenced, Claiming, TakingOver}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	switch s {
	case Active, RequestingSwitch, SwitchingOut, Standby, AgreeSwitch, SwitchingIn, Fenced, Fault, Initializing,
		Resuming, SelfFenced, Claiming, TakingOver:
		return true
	}
	return false
}
