package handshake

import (
	"errors"
	"fmt"
	"slices"
)

// Node is the persisted part of one node's handshake: what Step reads and
// returns.
type Node struct {
	State      State
	Epoch      uint64
	SwitchID   string
	FenceLSN   string
	ReverseLSN string
	// Refused lists switchovers this node refused or abandoned; a late
	// message about one of them is rejected.
	Refused []string
	Reason  string
}

// Rejections: the event changes nothing.
var (
	ErrStaleEpoch    = errors.New("message from another epoch")
	ErrUnknownSwitch = errors.New("message about an unknown or abandoned switchover")
	ErrNotAllowed    = errors.New("event not allowed in this state")
)

// Step applies one event. On a rejection it returns the node unchanged and
// an error wrapping one of the Err values above.
func Step(n Node, e Event) (Node, []Action, error) {
	for _, t := range table {
		if t.from != n.State || t.on != e.Kind {
			continue
		}
		next := n
		next.Refused = slices.Clone(n.Refused)
		if err := t.guard.check(n, e); err != nil {
			return n, nil, fmt.Errorf("%s in %s: %w", e.Kind, n.State, err)
		}
		next.State = t.to
		if t.apply != nil {
			t.apply(&next, e)
		}
		return next, slices.Clone(t.actions), nil
	}
	return n, nil, fmt.Errorf("%s in %s: %w", e.Kind, n.State, ErrNotAllowed)
}

// guard says what an event must match to be accepted.
type guard int

const (
	anyEvent     guard = iota
	newSwitch          // a switch ID never seen, and the current epoch
	sameSwitch         // the switchover in progress
	sameEpoch          // the switchover in progress, in the current epoch
	nextEpoch          // the switchover in progress, peer now in epoch+1
	knownRequest       // a request in the current epoch, not refused before
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
	return nil
}

func (n *Node) refuse(e Event) {
	if n.SwitchID != "" && !slices.Contains(n.Refused, n.SwitchID) {
		n.Refused = append(n.Refused, n.SwitchID)
	}
	if e.Reason != "" {
		n.Reason = e.Reason
	}
}
