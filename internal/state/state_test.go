package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
	r := Record{Name: "a", Node: handshake.Node{State: handshake.Active, Epoch: 1}}
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
	if err := a.Save(Record{Name: "node-a", Node: handshake.Node{State: handshake.Active, Epoch: 3}}, ""); err != nil {
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
	if err := b.Save(Record{Name: "node-a", Node: handshake.Node{State: handshake.Standby}}, handshake.Active); !errors.Is(err, ErrForeignRecord) {
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
	if err := s.Save(Record{Name: "a", Node: handshake.Node{State: handshake.Standby}}, ""); err != nil {
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

// TestRecordFileFormat: the handshake part is embedded, and the file keeps
// the names it always had, so records written by earlier versions load.
func TestRecordFileFormat(t *testing.T) {
	dir := t.TempDir()
	old := `{"node": "node-b", "state": "STANDBY", "epoch": 4, "switch_id": "s9", "fence_lsn": "0/10",
		"reverse_lsn": "0/20", "refused": ["s8"], "local_system_id": "1", "peer_system_id": "2",
		"reason": "x", "updated_at": "2026-01-02T03:04:05Z"}`
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := handshake.Node{State: handshake.Standby, Epoch: 4, SwitchID: "s9", FenceLSN: "0/10", ReverseLSN: "0/20", Refused: []string{"s8"}, Reason: "x"}
	if r.Name != "node-b" || !reflect.DeepEqual(r.Node, want) || r.LocalSystemID != "1" || r.PeerSystemID != "2" {
		t.Fatalf("loaded %+v", r)
	}
	if err := s.Save(r, r.State); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"node": "node-b"`, `"state": "STANDBY"`, `"epoch": 4`, `"switch_id": "s9"`, `"refused": [`, `"local_system_id": "1"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("saved record lacks %s:\n%s", key, b)
		}
	}
}
