package slots

import (
	"reflect"
	"testing"

	"github.com/pgswitch/pgswitch/internal/dbrole"
)

func names(s []dbrole.SlotUse) []string {
	out := []string{}
	for _, x := range s {
		out = append(out, x.Name)
	}
	return out
}

// TestPlan: every kind of slot — in use or not, pgswitch's or another's,
// the kept one — lands where it must; someone else's is never dropped.
func TestPlan(t *testing.T) {
	all := []dbrole.SlotUse{
		{Name: "pgswitch_node_b", Active: true},  // the peer streams now
		{Name: "pgswitch_node_a", Retained: 100}, // this node's own from an earlier role
		{Name: "pgswitch_node_c", Retained: 5},   // a peer that no longer exists
		{Name: "debezium", Retained: 7},          // someone else's, idle
		{Name: "barman", Active: true},           // someone else's, in use
		{Name: "pgswitch_keep", Retained: 9},     // the kept one, idle
	}
	cases := []struct {
		keep        string
		drop, stray []string
	}{
		{"pgswitch_keep", []string{"pgswitch_node_a", "pgswitch_node_c"}, []string{"debezium"}},
		{"", []string{"pgswitch_node_a", "pgswitch_node_c", "pgswitch_keep"}, []string{"debezium"}},
		{"debezium", []string{"pgswitch_node_a", "pgswitch_node_c", "pgswitch_keep"}, []string{}},
	}
	for _, c := range cases {
		drop, stray := Plan(all, c.keep)
		if !reflect.DeepEqual(names(drop), c.drop) || !reflect.DeepEqual(names(stray), c.stray) {
			t.Errorf("keep %q: drop %v stray %v, want %v %v", c.keep, names(drop), names(stray), c.drop, c.stray)
		}
	}
	if r := Report(nil); r != "" {
		t.Errorf("no stray slots reported as %q", r)
	}
	if r := Report([]dbrole.SlotUse{{Name: "debezium", Retained: 7}}); r != "slots no node uses: debezium (inactive, retains 7 bytes of WAL)" {
		t.Errorf("Report = %q", r)
	}
}
