package handshake

import (
	"fmt"
	"strings"
)

// Mermaid renders the transition table as a Mermaid state diagram.
func Mermaid() string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	b.WriteString("    [*] --> ACTIVE: init --role primary\n")
	b.WriteString("    [*] --> STANDBY: init --role standby\n")
	seen := map[string]bool{}
	for _, t := range table {
		if t.on == EvRestart && t.from == t.to {
			continue
		}
		label := string(t.on)
		if len(t.actions) > 0 {
			acts := make([]string, len(t.actions))
			for i, a := range t.actions {
				acts[i] = string(a)
			}
			label += " / " + strings.Join(acts, ", ")
		}
		line := fmt.Sprintf("    %s --> %s: %s\n", t.from, t.to, label)
		if !seen[line] {
			seen[line] = true
			b.WriteString(line)
		}
	}
	return b.String()
}

// Table renders the transitions as a plain table, with the reason for each.
func Table() string {
	var b strings.Builder
	for _, t := range table {
		acts := make([]string, len(t.actions))
		for i, a := range t.actions {
			acts[i] = string(a)
		}
		fmt.Fprintf(&b, "%-18s %-22s → %-18s [%s]  %s\n", t.from, t.on, t.to, strings.Join(acts, " "), t.why)
	}
	return b.String()
}
