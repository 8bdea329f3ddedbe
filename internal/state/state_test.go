package state

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pgswitch/pgswitch/internal/handshake"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); !errors.Is(err, ErrNoState) {
		t.Fatalf("fresh store: got %v, want ErrNoState", err)
	}
	r := Record{Node: "a", State: handshake.Active, Epoch: 1}
	if err := s.Save(r, ""); err != nil {
		t.Fatal(err)
	}
	r.State, r.Epoch, r.SwitchID = handshake.RequestingSwitch, 1, "s1"
	if err := s.Save(r, handshake.Active); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.State != handshake.RequestingSwitch || got.SwitchID != "s1" {
		t.Fatalf("loaded %+v", got)
	}
	if len(got.History) != 1 || got.History[0].From != handshake.Active {
		t.Fatalf("history %+v", got.History)
	}
}

func TestDamagedFileIsAnError(t *testing.T) {
	s, _ := Open(t.TempDir(), "a")
	if err := os.WriteFile(s.Path(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); err == nil || errors.Is(err, ErrNoState) {
		t.Fatalf("damaged file: got %v", err)
	}
	if err := os.WriteFile(s.Path(), []byte(`{"state":"BOSS"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); err == nil {
		t.Fatal("unknown state accepted")
	}
}

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	a, _ := Open(dir, "a")
	b, _ := Open(dir, "a")
	if err := a.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: got %v, want ErrLocked", err)
	}
	a.Unlock()
	if err := b.Lock(); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	b.Unlock()
}

// TestForeignRecordRefused: a store of node b refuses the record of node a
// (a shared or copied state directory) with a typed error naming both nodes
// and the file, and does not overwrite it.
func TestForeignRecordRefused(t *testing.T) {
	dir := t.TempDir()
	a, _ := Open(dir, "node-a")
	if err := a.Save(Record{Node: "node-a", State: handshake.Active, Epoch: 3}, ""); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Open(dir, "node-b")
	_, err = b.Load()
	var fe *ForeignRecordError
	if !errors.Is(err, ErrForeignRecord) || !errors.As(err, &fe) {
		t.Fatalf("node-b loading node-a's record: got %v, want ErrForeignRecord", err)
	}
	for _, want := range []string{"node-a", "node-b", b.Path()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if err := b.Save(Record{Node: "node-a", State: handshake.Standby}, handshake.Active); !errors.Is(err, ErrForeignRecord) {
		t.Errorf("node-b saving a record of node-a: got %v, want ErrForeignRecord", err)
	}
	if err := CheckOwner(dir, "node-b"); !errors.Is(err, ErrForeignRecord) {
		t.Errorf("CheckOwner for node-b: got %v, want ErrForeignRecord", err)
	}
	if err := CheckOwner(dir, "node-a"); err != nil {
		t.Errorf("CheckOwner for node-a: %v", err)
	}
	if err := CheckOwner(t.TempDir(), "node-b"); err != nil {
		t.Errorf("CheckOwner of an empty directory: %v", err)
	}
	after, _ := os.ReadFile(a.Path())
	if string(after) != string(before) {
		t.Error("the refused record was rewritten")
	}
}

// TestPresentNoticesDeletion: Present is quiet while the file is there and
// reports ErrStateGone once it is deleted.
func TestPresentNoticesDeletion(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, "a")
	if err := s.Save(Record{Node: "a", State: handshake.Standby}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Present(); err != nil {
		t.Fatalf("Present with the file in place: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Present(); !errors.Is(err, ErrStateGone) {
		t.Fatalf("Present after deletion: got %v, want ErrStateGone", err)
	}
}
