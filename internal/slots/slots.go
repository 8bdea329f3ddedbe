// Package slots is pgswitch's replication-slot housekeeping: which of the
// local database's slots nobody uses, which of those are pgswitch's own to
// drop, and which belong to someone else and are only reported (a slot
// nobody reads keeps WAL for ever).
package slots

import (
	"fmt"
	"strings"

	"github.com/pgswitch/pgswitch/internal/dbrole"
)

// Prefix starts the name of every slot pgswitch creates.
const Prefix = "pgswitch_"

// Plan sorts the slots: an active one (someone streams from it) and keep
// (the slot the peer follows this node from, when the node's role keeps
// it; "" keeps none) stay; an inactive one of pgswitch's own is dropped;
// anyone else's inactive one is stray, reported and left alone.
func Plan(all []dbrole.SlotUse, keep string) (drop, stray []dbrole.SlotUse) {
	for _, s := range all {
		switch {
		case s.Active || (keep != "" && s.Name == keep):
		case strings.HasPrefix(s.Name, Prefix):
			drop = append(drop, s)
		default:
			stray = append(stray, s)
		}
	}
	return drop, stray
}

// Report describes the stray slots for the fault stray_slot, or "" when
// there are none.
func Report(stray []dbrole.SlotUse) string {
	if len(stray) == 0 {
		return ""
	}
	parts := make([]string, 0, len(stray))
	for _, s := range stray {
		parts = append(parts, fmt.Sprintf("%s (inactive, retains %d bytes of WAL)", s.Name, s.Retained))
	}
	return "slots no node uses: " + strings.Join(parts, ", ")
}
