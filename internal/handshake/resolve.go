package handshake

// Outcome is a node's answer to "what became of switchover S?", asked by
// the old active when it cannot tell from the switch-out (SPEC §3, failure
// rules).
type Outcome string

// The outcomes.
const (
	// OutcomeActive: this node is active in the epoch after the asker's,
	// made so by the switchover named in the answer (not necessarily the
	// one asked about: the asker's guards judge it).
	OutcomeActive Outcome = "active"
	// OutcomeAskAgain: no final answer yet (switching in, or the state is
	// changing): ask again.
	OutcomeAskAgain Outcome = "ask_again"
	// OutcomeWillNotPromote: this node did not and will not promote in
	// that switchover.
	OutcomeWillNotPromote Outcome = "will_not_promote"
	// OutcomeAbortFirst: the node must first abandon the switchover (feed
	// EvAbort for it), then answer again.
	OutcomeAbortFirst Outcome = "abort_first"
)

// Resolution is the answer, with what the asker needs to follow.
type Resolution struct {
	Outcome    Outcome
	SwitchID   string
	Epoch      uint64
	ReverseLSN string
}

// Resolve says what node n answers an asker in epoch epoch about switchover
// id. It never answers "will not promote" once n has been promoted past the
// asker's epoch: an answer that let the asker serve again while n takes
// writes would make two writers.
func Resolve(n Node, id string, epoch uint64) Resolution {
	promotedAfter := n.Epoch > epoch && n.PromotedBy != ""
	switch {
	case n.State == SwitchingIn && n.SwitchID == id:
		return Resolution{Outcome: OutcomeAskAgain, SwitchID: id, Epoch: n.Epoch}
	case n.State == Active || (promotedAfter && n.Epoch == epoch+1 && (n.State == RequestingSwitch)):
		// Active, or active and trying another switchover that cannot
		// pass its request while the asker is fenced: name the switchover
		// that made it active.
		by, lsn := n.PromotedBy, n.PromotedLSN
		if by == "" {
			by, lsn = n.SwitchID, n.ReverseLSN
		}
		return Resolution{Outcome: OutcomeActive, SwitchID: by, Epoch: n.Epoch, ReverseLSN: lsn}
	case n.Epoch > epoch:
		// Promoted since, in a state that is no answer (switching out in
		// turn, fenced): ask again.
		return Resolution{Outcome: OutcomeAskAgain, SwitchID: id, Epoch: n.Epoch}
	case n.SwitchID == id && (n.State == AgreeSwitch || n.State == Standby) && !refused(n, id):
		return Resolution{Outcome: OutcomeAbortFirst, SwitchID: id, Epoch: n.Epoch}
	case n.State == SwitchingIn:
		return Resolution{Outcome: OutcomeAskAgain, SwitchID: id, Epoch: n.Epoch}
	}
	return Resolution{Outcome: OutcomeWillNotPromote, SwitchID: id, Epoch: n.Epoch}
}

func refused(n Node, id string) bool {
	for _, r := range n.Refused {
		if r == id {
			return true
		}
	}
	return false
}
