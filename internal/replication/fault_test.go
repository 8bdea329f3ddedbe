package replication

import "testing"

// TestAllFaultsOnce: every reason is listed once, with a stable snake_case
// name (they are metric labels).
func TestAllFaultsOnce(t *testing.T) {
	seen := map[FaultReason]bool{}
	for _, r := range AllFaults {
		if seen[r] {
			t.Errorf("%s listed twice", r)
		}
		seen[r] = true
		for _, c := range r {
			if (c < 'a' || c > 'z') && c != '_' {
				t.Errorf("reason %q is not snake_case", r)
				break
			}
		}
	}
	if len(AllFaults) < 16 {
		t.Errorf("only %d reasons listed", len(AllFaults))
	}
}
