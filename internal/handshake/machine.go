package handshake

import (
	"errors"
	"fmt"
	"slices"
)

// Node is the persisted part of one node's handshake: what Step reads and
// returns.
type Node struct {
	State State  `json:"state"`
	Epoch uint64 `json:"epoch"`
	// SwitchID names the switchover in progress (or the last one).
	SwitchID string `json:"switch_id,omitempty"`
	// FenceLSN is the position of the switch marker on the old active.
	FenceLSN string `json:"fence_lsn,omitempty"`
	// ReverseLSN is the consistent point of the slot the new active
	// created for the old one.
	ReverseLSN string `json:"reverse_lsn,omitempty"`
	// Refused lists switchovers this node refused or abandoned, the last
	// RefusedKept of them; a late message about one is rejected.
	Refused []string `json:"refused,omitempty"`
	// Reason explains FENCED or FAULT.
	Reason string `json:"reason,omitempty"`
	// PromotedBy and PromotedLSN are the switchover that made this node
	// active in its current epoch and its reverse slot's point, kept while
	// later switchovers are tried (SwitchID and ReverseLSN then change):
	// what the node answers an old active that asks what became of it.
	PromotedBy  string `json:"promoted_by,omitempty"`
	PromotedLSN string `json:"promoted_lsn,omitempty"`
}

// RefusedKept bounds Refused: a message about a switchover older than the
// last RefusedKept refused ones is stopped by its epoch or its switch id
// anyway (a new switch id is never reused).
const RefusedKept = 50

// Rejections: the event changes nothing.
var (
	ErrStaleEpoch    = errors.New("message from another epoch")
	ErrUnknownSwitch = errors.New("message about an unknown or abandoned switchover")
	ErrNotAllowed    = errors.New("event not allowed in this state")
	// ErrUnproven: a takeover whose proofs of holding every acknowledged
	// commit fail (the fault failover_refused names the proof).
	ErrUnproven = errors.New("cannot prove this node holds every acknowledged commit")
)

// Step applies one event. On a rejection it returns the node unchanged and
// an error wrapping one of the Err values above.
//
// A state may have several edges on one event whose guards exclude each
// other (a restart with or without a quorum); the first whose guard
// passes is taken, and when none does the first one's rejection is
// returned.
func Step(n Node, e Event) (Node, []Action, error) {
	var first error
	for _, t := range table {
		if t.from != n.State || t.on != e.Kind {
			continue
		}
		err := t.quorum.check(e)
		if err == nil {
			err = t.guard.check(n, e)
		}
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		next := n
		next.Refused = slices.Clone(n.Refused)
		next.State = t.to
		if t.apply != nil {
			t.apply(&next, e)
		}
		return next, slices.Clone(t.actions), nil
	}
	if first != nil {
		return n, nil, fmt.Errorf("%s in %s: %w", e.Kind, n.State, first)
	}
	return n, nil, fmt.Errorf("%s in %s: %w", e.Kind, n.State, ErrNotAllowed)
}

// quorumMode says whether an edge is for nodes with a quorum, without
// one, or both: the daemon marks every event with Quorum when it runs with
// one, so that no edge makes a node writable without the leader key.
type quorumMode int

const (
	eitherWay quorumMode = iota
	withQuorum
	noQuorum
)

func (q quorumMode) check(e Event) error {
	switch {
	case q == withQuorum && !e.Quorum:
		return fmt.Errorf("%w: only with a quorum", ErrNotAllowed)
	case q == noQuorum && e.Quorum:
		return fmt.Errorf("%w: not with a quorum", ErrNotAllowed)
	}
	return nil
}

// guard says what an event must match to be accepted.
type guard int

const (
	anyEvent            guard = iota
	newSwitch                 // a switch ID never seen, and the current epoch
	sameSwitch                // the switchover in progress
	sameEpoch                 // the switchover in progress, in the current epoch
	nextEpoch                 // the switchover in progress, peer now in epoch+1
	knownRequest              // a request in the current epoch, not refused before
	currentEpoch              // the event's epoch is this node's
	laterEpoch                // the event's epoch is past this node's
	proven                    // a new takeover of the key lost in this node's epoch, every proof held
	forced                    // a new takeover of the key lost in this node's epoch, proofs waived
	currentEpochPending       // currentEpoch, with this node's takeover unfinished
	currentEpochSettled       // currentEpoch, with no takeover unfinished
)

func (g guard) check(n Node, e Event) error {
	switch g {
	case newSwitch:
		if e.SwitchID == "" || slices.Contains(n.Refused, e.SwitchID) || e.SwitchID == n.SwitchID {
			return ErrUnknownSwitch
		}
	case knownRequest:
		if e.Epoch != n.Epoch {
			return fmt.Errorf("%w: request for epoch %d, this node is in %d", ErrStaleEpoch, e.Epoch, n.Epoch)
		}
		if e.SwitchID == "" || slices.Contains(n.Refused, e.SwitchID) {
			return ErrUnknownSwitch
		}
	case sameSwitch:
		if e.SwitchID != n.SwitchID || slices.Contains(n.Refused, e.SwitchID) {
			return ErrUnknownSwitch
		}
	case sameEpoch:
		if e.SwitchID != n.SwitchID || slices.Contains(n.Refused, e.SwitchID) {
			return ErrUnknownSwitch
		}
		if e.Epoch != n.Epoch {
			return fmt.Errorf("%w: %d, this node is in %d", ErrStaleEpoch, e.Epoch, n.Epoch)
		}
	case nextEpoch:
		if e.SwitchID != n.SwitchID {
			return ErrUnknownSwitch
		}
		if e.Epoch != n.Epoch+1 {
			return fmt.Errorf("%w: peer active in %d, expected %d", ErrStaleEpoch, e.Epoch, n.Epoch+1)
		}
	}
	switch {
	case g == currentEpochPending && !takeoverPending(n):
		return fmt.Errorf("%w: no takeover pending", ErrNotAllowed)
	case g == currentEpochSettled && takeoverPending(n):
		return fmt.Errorf("%w: a takeover is pending", ErrNotAllowed)
	}
	switch g {
	case currentEpoch, currentEpochPending, currentEpochSettled:
		if e.Epoch != n.Epoch {
			return fmt.Errorf("%w: %d, this node is in %d", ErrStaleEpoch, e.Epoch, n.Epoch)
		}
	case laterEpoch:
		if e.Epoch <= n.Epoch {
			return fmt.Errorf("%w: %d, this node is in %d", ErrStaleEpoch, e.Epoch, n.Epoch)
		}
	case proven, forced:
		if e.SwitchID == "" || slices.Contains(n.Refused, e.SwitchID) || e.SwitchID == n.SwitchID {
			return ErrUnknownSwitch
		}
		if e.Epoch != n.Epoch {
			// The key expired in another epoch than the one this node
			// follows: it is behind, or the pair moved on without it.
			return fmt.Errorf("%w: the leader key was lost in epoch %d, this node is in %d", ErrStaleEpoch, e.Epoch, n.Epoch)
		}
		if g == proven && e.Unproven != "" {
			return fmt.Errorf("%w: %s", ErrUnproven, e.Unproven)
		}
	}
	return nil
}

func (n *Node) refuse(e Event) {
	if n.SwitchID != "" && !slices.Contains(n.Refused, n.SwitchID) {
		n.Refused = append(n.Refused, n.SwitchID)
		if len(n.Refused) > RefusedKept {
			n.Refused = slices.Clone(n.Refused[len(n.Refused)-RefusedKept:])
		}
	}
	if e.Reason != "" {
		n.Reason = e.Reason
	}
}
