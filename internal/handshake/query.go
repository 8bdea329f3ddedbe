package handshake

import "slices"

// Accepts says whether the table would take event e in node n, without
// taking it: the daemon asks it instead of comparing states itself (is a
// catch-up's answer still wanted, may this node start a switchover).
func Accepts(n Node, e Event) bool {
	_, _, err := Step(n, e)
	return err == nil
}

// Takes says whether state s has any edge on events of kind k, whatever
// their guards: what a node in s could do with such an event at all.
func Takes(s State, k EventKind) bool {
	for _, t := range table {
		if t.from == s && t.on == k {
			return true
		}
	}
	return false
}

// MayAgree says whether a node in state s answers a new request by
// catching up towards agreeing (a healthy STANDBY), not by refusing.
func MayAgree(s State) bool {
	for _, t := range table {
		if t.from == s && t.on == EvRequest && slices.Contains(t.actions, ActWaitCatchUp) {
			return true
		}
	}
	return false
}

// Result is how a switchover ended on one node.
type Result string

// The results, named as `pgswitch promote` reports them.
const (
	ResultDone    Result = "done"
	ResultAborted Result = "aborted"
	ResultFenced  Result = "fenced"
)

// Ended says whether the step from → to ends this node's part in a
// switchover, and how: a node that switched in or followed is done, one
// that went FENCED is fenced (and may end again, done or aborted, when
// the peer answers), and one that left the switchover otherwise aborted
// it.
func Ended(from, to State) (Result, bool) {
	if from == to || !WantOf(from).InSwitchover {
		return "", false
	}
	switch {
	case WantOf(to).Clients == ClientsFenced:
		return ResultFenced, true
	case to == Active && MayWrite(from),
		to == Standby && WantOf(from).Outgoing:
		return ResultDone, true
	case !WantOf(to).InSwitchover:
		return ResultAborted, true
	}
	return "", false
}

// ResultOf says how switchover id ended for the node that started it, from
// its record once the driver is done: it followed the peer (done), serves
// again (aborted), or neither (fenced, with ok false when it is in a state
// a finished switchover never leaves it in).
func ResultOf(n Node, id string) (r Result, ok bool) {
	switch {
	case n.SwitchID == id && n.State == Standby:
		return ResultDone, true
	case n.State == Fenced:
		return ResultFenced, true
	case n.State == Active:
		return ResultAborted, true
	}
	return ResultFenced, false
}
