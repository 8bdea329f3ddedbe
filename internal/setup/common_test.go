package setup

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// good is a server pgswitch accepts.
var good = ServerInfo{
	VersionNum: 150004, WALLevel: "logical", MaxReplicationSlots: 10, MaxWALSenders: 10,
	Database: "app", Role: "pgswitch", Superuser: true, Replication: true,
}

func TestProblems(t *testing.T) {
	const (
		tooOld14     = "PostgreSQL 14 is too old: pgswitch needs 15 or later"
		walReplica   = "wal_level is replica: set wal_level = logical and restart PostgreSQL"
		inRecovery   = "the server is a physical standby (in recovery): pgswitch needs two primaries"
		notSuper     = "role app_user is not a superuser: PostgreSQL 15 reserves replication origins and session_replication_role to superusers"
		noReplAttr   = "role app_user lacks the REPLICATION attribute needed for slots"
		notSuperPgsw = "role pgswitch is not a superuser: PostgreSQL 15 reserves replication origins and session_replication_role to superusers"
	)
	for _, tc := range []struct {
		name   string
		modify func(*ServerInfo)
		want   []string
	}{
		{"good", func(*ServerInfo) {}, nil},
		{"exactly 15.0", func(s *ServerInfo) { s.VersionNum = 150000 }, nil},
		{"17", func(s *ServerInfo) { s.VersionNum = 170002 }, nil},
		{"superuser without the REPLICATION attribute", func(s *ServerInfo) { s.Replication = false }, nil},
		{"just below 15", func(s *ServerInfo) { s.VersionNum = 149999 }, []string{tooOld14}},
		{"14", func(s *ServerInfo) { s.VersionNum = 140010 }, []string{tooOld14}},
		{"9.6", func(s *ServerInfo) { s.VersionNum = 90624 }, []string{"PostgreSQL 9 is too old: pgswitch needs 15 or later"}},
		{"wal_level replica", func(s *ServerInfo) { s.WALLevel = "replica" }, []string{walReplica}},
		{"wal_level minimal", func(s *ServerInfo) { s.WALLevel = "minimal" }, []string{"wal_level is minimal: set wal_level = logical and restart PostgreSQL"}},
		{"in recovery", func(s *ServerInfo) { s.InRecovery = true }, []string{inRecovery}},
		{"replication role, not superuser", func(s *ServerInfo) { s.Superuser = false }, []string{notSuperPgsw}},
		{"neither superuser nor replication", func(s *ServerInfo) { s.Superuser, s.Replication, s.Role = false, false, "app_user" },
			[]string{notSuper, noReplAttr}},
		{"everything wrong, in order", func(s *ServerInfo) {
			*s = ServerInfo{VersionNum: 140005, WALLevel: "replica", InRecovery: true, Role: "app_user"}
		}, []string{tooOld14, walReplica, inRecovery, notSuper, noReplAttr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.modify(&s)
			if got := s.Problems(); !slices.Equal(got, tc.want) {
				t.Errorf("Problems() =\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

// The settings check leaves to others (slots, walsenders) and facts about
// the database are not problems of their own.
func TestProblemsIgnoresCapacity(t *testing.T) {
	s := good
	s.MaxReplicationSlots, s.MaxWALSenders, s.SlotsUsed, s.HasSchema = 0, 0, 5, true
	if p := s.Problems(); len(p) != 0 {
		t.Errorf("Problems() = %q, want none", p)
	}
}

func TestRefusal(t *testing.T) {
	err := refuse("peer database (%s): %v", "node-b", errors.New("connection refused"))
	const want = "peer database (node-b): connection refused"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	for _, e := range []error{err, fmt.Errorf("init: %w", err), fmt.Errorf("a: %w", fmt.Errorf("b: %w", err))} {
		var r *Refusal
		if !errors.As(e, &r) {
			t.Errorf("errors.As(%q, *Refusal) = false", e)
			continue
		}
		if r.Reason != want {
			t.Errorf("Reason = %q, want %q", r.Reason, want)
		}
	}
	var r *Refusal
	if errors.As(fmt.Errorf("init: %v", err), &r) {
		t.Error("a refusal flattened by fmt.Errorf without %w still matches *Refusal")
	}
	if errors.As(errors.New(want), &r) {
		t.Error("a plain error matches *Refusal")
	}
	// No format verbs in the reason: a literal % survives.
	if got := refuse("100%% done").Error(); got != "100% done" {
		t.Errorf("refuse(\"100%%%% done\") = %q", got)
	}
}
