package state

import (
	"errors"
	"os"
	"testing"

	"github.com/pgswitch/pgswitch/internal/handshake"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir())
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
	s, _ := Open(t.TempDir())
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
	a, _ := Open(dir)
	b, _ := Open(dir)
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
