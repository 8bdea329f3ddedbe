package syncpolicy

import (
	"testing"
	"time"
)

// TestDecide walks the synchronous policy through the life of an
// active: a follower that takes its time, streams, goes away for longer
// than sync_degrade_after, and comes back; and the strict mode.
func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	type obs struct {
		at       time.Duration // since t0
		caughtUp bool
		names    string
		degraded bool
		change   Change
	}
	cases := []struct {
		name  string
		after time.Duration
		steps []obs
	}{
		{"degrading", 10 * time.Second, []obs{
			{0, false, "", false, Same},               // a new active: no follower yet, commits do not wait
			{5 * time.Second, false, "", false, Same}, // still connecting, within sync_degrade_after
			{6 * time.Second, true, `"b"`, false, Same},
			{7 * time.Second, true, `"b"`, false, Same},
			{15 * time.Second, false, `"b"`, false, Same},  // gone 8 s: still waited for
			{18 * time.Second, false, "", true, Suspended}, // gone 11 s: degraded
			{19 * time.Second, false, "", true, Same},
			{20 * time.Second, true, `"b"`, false, Resumed},
		}},
		{"a follower that never comes", 10 * time.Second, []obs{
			{0, false, "", false, Same},
			{11 * time.Second, false, "", true, Suspended},
			{12 * time.Second, true, `"b"`, false, Resumed},
		}},
		{"strict", 0, []obs{
			{0, false, `"b"`, false, Same},
			{time.Hour, false, `"b"`, false, Same},
			{2 * time.Hour, true, `"b"`, false, Same},
		}},
	}
	for _, tc := range cases {
		var st State
		for i, o := range tc.steps {
			var names string
			var change Change
			st, names, change = Decide(st, t0.Add(o.at), o.caughtUp, tc.after, `"b"`)
			if names != o.names || st.degraded != o.degraded || change != o.change {
				t.Errorf("%s, step %d (at %s, caught up %t): names %q degraded %t change %d, want %q %t %d",
					tc.name, i, o.at, o.caughtUp, names, st.degraded, change, o.names, o.degraded, o.change)
			}
		}
	}
}
