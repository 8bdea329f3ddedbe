package supervise

import (
	"errors"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/replication"
)

// TestSetConfirmsAfterTheGrace: a fault is reported only once it has lasted
// its grace; clearing it is worth a log line only if it was confirmed; a
// fault that comes back starts its grace again.
func TestSetConfirmsAfterTheGrace(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	s := &Set{now: func() time.Time { return now }}
	grace := 3 * time.Second
	if s.Observe(DiskFull, "9% free", true, grace) {
		t.Fatal("a new fault was confirmed before its grace")
	}
	if got := s.Confirmed(); len(got) != 0 {
		t.Fatalf("unconfirmed faults reported: %+v", got)
	}
	now = now.Add(2 * time.Second)
	if s.Observe(DiskFull, "8% free", true, grace) {
		t.Fatal("confirmed after 2 s of a 3 s grace")
	}
	now = now.Add(time.Second)
	if !s.Observe(DiskFull, "7% free", true, grace) {
		t.Fatal("not confirmed once the grace passed")
	}
	if s.Observe(DiskFull, "7% free", true, grace) {
		t.Fatal("confirmed twice")
	}
	if since, ok := s.Has(DiskFull); !ok || !since.Equal(now.Add(-3*time.Second)) {
		t.Fatalf("Has = %s %v, want the first sighting", since, ok)
	}
	got := s.Confirmed()
	if len(got) != 1 || got[0].Reason != string(DiskFull) || got[0].Detail != "7% free" {
		t.Fatalf("Confirmed = %+v, want disk_full with the latest detail", got)
	}
	if !s.Observe(DiskFull, "", false, grace) {
		t.Fatal("a confirmed fault cleared without a log line")
	}
	if _, ok := s.Has(DiskFull); ok {
		t.Fatal("a cleared fault is still present")
	}
	if s.Observe(DiskFull, "", false, grace) {
		t.Fatal("clearing an absent fault is reported")
	}
	s.Observe(DiskFull, "again", true, grace)
	if _, ok := s.Has(DiskFull); ok {
		t.Fatal("a fault that came back skipped its grace")
	}
	// A passing hiccup never shows: present, then gone within the grace.
	s.Observe(PeerUnreachable, "reset", true, grace)
	if s.Observe(PeerUnreachable, "", false, grace) {
		t.Fatal("an unconfirmed fault's clearing is reported")
	}
	// Grace 0 confirms at once; Confirmed is sorted by reason.
	s.Observe(WrongDatabase, "x", true, 0)
	s.Observe(CannotCommit, "y", true, 0)
	got = s.Confirmed()
	if len(got) != 2 || got[0].Reason != string(CannotCommit) || got[1].Reason != string(WrongDatabase) {
		t.Fatalf("Confirmed = %+v, want cannot_commit then wrong_database", got)
	}
}

// TestAllReasons: every reason once, the applier's and the states' among
// them, so the metrics export each.
func TestAllReasons(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range All {
		if seen[r] {
			t.Errorf("%s listed twice", r)
		}
		seen[r] = true
	}
	for _, r := range replication.AllFaults {
		if !seen[Reason(r)] {
			t.Errorf("the applier's %s is missing", r)
		}
	}
	for _, r := range append([]Reason{"fault", "fenced"}, Own...) {
		if !seen[r] {
			t.Errorf("%s is missing", r)
		}
	}
}

// TestApplierObservations: whatever the applier's status, exactly one of
// its reasons is present at most, every other one is cleared, and
// wrong_database is never touched (the monitor notes it).
func TestApplierObservations(t *testing.T) {
	type c struct {
		name    string
		st      replication.Status
		running bool
		present Reason
	}
	cases := []c{
		{"not running", replication.Status{}, false, ""},
		{"streaming", replication.Status{Streaming: true}, true, ""},
		{"not streaming", replication.Status{}, true, ApplierNotStreaming},
		{"wrong database", replication.Status{Fault: &replication.Fault{Reason: replication.FaultWrongDatabase}}, true, ""},
	}
	for _, r := range replication.AllFaults {
		if r != replication.FaultWrongDatabase {
			cases = append(cases, c{string(r), replication.Status{Fault: &replication.Fault{Reason: r, Err: errors.New("e")}}, true, Reason(r)})
		}
	}
	for _, tc := range cases {
		obs := ApplierObservations(tc.st, tc.running)
		var present []Reason
		for _, o := range obs {
			if o.Reason == WrongDatabase {
				t.Errorf("%s: wrong_database observed", tc.name)
			}
			if o.Present {
				present = append(present, o.Reason)
			}
		}
		switch {
		case tc.present == "" && len(present) != 0,
			tc.present != "" && (len(present) != 1 || present[0] != tc.present):
			t.Errorf("%s: present %v, want %q", tc.name, present, tc.present)
		}
		if len(obs) != len(Applier) {
			// applier_not_streaming plus every applier reason but
			// wrong_database.
			t.Errorf("%s: %d observations, want %d", tc.name, len(obs), len(Applier))
		}
	}
}

// TestStandbyUnfit pins, for every reason, whether it keeps a standby from
// becoming active.
func TestStandbyUnfit(t *testing.T) {
	fit := map[Reason]bool{
		PeerUnreachable: true, StraySlot: true, SyncDegraded: true, ServiceCheck: true, CannotCommit: true,
		FailoverRefused: true, QuorumUnreachable: true,
		Reason(replication.FaultPrimaryUnreachable): true,
	}
	for _, st := range handshake.States {
		if handshake.WantOf(st).Faulty {
			fit[OfState(st)] = true // the state's own report, not a check's
		}
	}
	for _, r := range All {
		got := StandbyUnfit([]api.Fault{{Reason: string(r), Detail: "d"}})
		if fit[r] != (got == "") {
			t.Errorf("%s: StandbyUnfit = %q, want unfit %v", r, got, !fit[r])
		}
	}
	if got := StandbyUnfit(nil); got != "" {
		t.Errorf("no faults: %q", got)
	}
}

func TestDiskFree(t *testing.T) {
	if o := DiskFree("", 10); o.Present {
		t.Errorf("no path: %+v", o)
	}
	if o := DiskFree("/", 0); o.Present {
		t.Errorf("no minimum: %+v", o)
	}
	if o := DiskFree("/", 101); !o.Present || o.Reason != DiskFull {
		t.Errorf("more than all free required: %+v", o)
	}
	if o := DiskFree("/no/such/dir", 10); !o.Present {
		t.Errorf("an unreadable path passes: %+v", o)
	}
}
