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
	// Initializing is pgswitch's own: `init --role standby` is copying the
	// data; the node is neither a standby yet nor eligible for anything.
	Initializing State = "INITIALIZING"
)

// States are the states a running daemon can be in (not Initializing), in
// the order above: the metrics export each.
var States = []State{Active, RequestingSwitch, SwitchingOut, Standby, AgreeSwitch, SwitchingIn, Fenced, Fault}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	switch s {
	case Active, RequestingSwitch, SwitchingOut, Standby, AgreeSwitch, SwitchingIn, Fenced, Fault, Initializing:
		return true
	}
	return false
}
