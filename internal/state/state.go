package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pgswitch/pgswitch/internal/handshake"
)

// Record is what a node remembers across restarts: the handshake's own
// part (handshake.Node, what Step reads and returns) and what pgswitch keeps
// beside it.
type Record struct {
	// Name is the node whose record this is: a node refuses another's.
	Name string `json:"node"`
	handshake.Node
	// ReverseSlotFor is the switchover for which this node (switching in)
	// created the reverse slot: a slot of that name found while switching
	// in is reused only when it was made for this very switch-in; any other
	// is left over from an earlier epoch and would replay an old range.
	// Recorded after any older slot was dropped and before the new one is
	// created.
	ReverseSlotFor string `json:"reverse_slot_for,omitempty"`
	// LocalSystemID and PeerSystemID are the system identifiers of the
	// local and the peer database cluster recorded at init: a node refuses
	// a database it was not initialised on. Empty in records made before
	// they were kept; filled in then.
	LocalSystemID string `json:"local_system_id,omitempty"`
	PeerSystemID  string `json:"peer_system_id,omitempty"`
	// Divergence: this node, an old active behind a later epoch, committed
	// transactions its successor never applied (SPEC §9 rule 5).
	Divergence *Divergence `json:"divergence,omitempty"`
	// Rejoin: pgswitch rejoin re-copied some tables; the applier skips
	// their changes that the copy already holds.
	Rejoin *Rejoin `json:"rejoin,omitempty"`
	// Promise: the last failsafe promise this node gave, so that a daemon
	// restarted within its lifetime still keeps it.
	Promise   *Promise     `json:"promise,omitempty"`
	UpdatedAt time.Time    `json:"updated_at"`
	History   []Transition `json:"history,omitempty"`
}

// Divergence is what an old active found it alone committed.
type Divergence struct {
	Epoch        uint64 `json:"epoch"` // the successor's
	Transactions int    `json:"transactions"`
	Report       string `json:"report"` // lost-<epoch>.jsonl in the state directory
}

// Rejoin is what an old active's rejoin re-copied: for each table
// ("schema.table"), the snapshot's consistent point; a source transaction
// that commits before it is in the copy (as PostgreSQL's table
// synchronisation keeps a start position per table).
type Rejoin struct {
	Epoch     uint64            `json:"epoch"`
	SkipUntil map[string]string `json:"skip_until"`
}

// Promise is when a failsafe promise was given, on the host's boot clock
// (CLOCK_BOOTTIME, which runs on across daemon restarts) of boot Boot.
type Promise struct {
	Boot string        `json:"boot"`
	At   time.Duration `json:"at_ns"`
}

// Transition is one entry of the bounded history.
type Transition struct {
	At       time.Time       `json:"at"`
	From     handshake.State `json:"from"`
	To       handshake.State `json:"to"`
	Epoch    uint64          `json:"epoch"`
	SwitchID string          `json:"switch_id,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}

const historyLen = 50

// Store reads and writes one node's record.
type Store struct {
	dir  string
	node string // the node whose record this is
	mu   sync.Mutex
	lock *os.File
}

// ErrNoState means the node was never initialised.
var ErrNoState = errors.New("no state recorded (run pgswitch init)")

// ErrLocked means another pgswitch process holds the node's lock.
var ErrLocked = errors.New("another pgswitch process holds this node's state lock")

// ErrForeignRecord matches a *ForeignRecordError with errors.Is.
var ErrForeignRecord = errors.New("state file recorded for another node")

// ForeignRecordError means the state file holds the record of another node
// (a shared or copied state directory): acting on it would apply that
// node's state, ACTIVE for instance, to this one.
type ForeignRecordError struct {
	Path     string
	Node     string // this node
	Recorded string // the node named in the file
}

func (e *ForeignRecordError) Error() string {
	return fmt.Sprintf("state file %s is recorded for node %s, not for this node %s: refusing it (is node.state_dir shared with, or copied from, %s?)",
		e.Path, e.Recorded, e.Node, e.Recorded)
}

// Is makes errors.Is(err, ErrForeignRecord) true.
func (e *ForeignRecordError) Is(target error) bool { return target == ErrForeignRecord }

// Open prepares the state directory (created 0700 when missing) of node; Load
// refuses a record of any other node.
func Open(dir, node string) (*Store, error) {
	if node == "" {
		return nil, errors.New("state: opening a store without a node name")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory %s: %w", dir, err)
	}
	return &Store{dir: dir, node: node}, nil
}

// Path is the state file.
func (s *Store) Path() string { return filepath.Join(s.dir, "state.json") }

// Lock takes the node's exclusive lock without waiting; held until Unlock or
// process exit.
func (s *Store) Lock() error {
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening state lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return ErrLocked
		}
		return fmt.Errorf("locking state: %w", err)
	}
	s.lock = f
	return nil
}

// Unlock releases the lock.
func (s *Store) Unlock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// Load reads the record; ErrNoState when there is none.
func (s *Store) Load() (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r Record
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, os.ErrNotExist) {
		return r, ErrNoState
	}
	if err != nil {
		return r, fmt.Errorf("reading state file: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("state file %s is damaged: %w", s.Path(), err)
	}
	if r.Name != s.node {
		return Record{}, &ForeignRecordError{Path: s.Path(), Node: s.node, Recorded: r.Name}
	}
	if !r.State.Valid() {
		return r, fmt.Errorf("state file %s holds unknown state %q", s.Path(), r.State)
	}
	return r, nil
}

// Save writes the record durably. A transition is appended to the history
// when the state changes.
func (s *Store) Save(r Record, prev handshake.State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Name != s.node {
		return &ForeignRecordError{Path: s.Path(), Node: s.node, Recorded: r.Name}
	}
	r.UpdatedAt = time.Now().UTC()
	if prev != r.State {
		r.History = append(r.History, Transition{At: r.UpdatedAt, From: prev, To: r.State, Epoch: r.Epoch, SwitchID: r.SwitchID, Reason: r.Reason})
		if len(r.History) > historyLen {
			r.History = r.History[len(r.History)-historyLen:]
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	return writeAtomic(s.Path(), append(b, '\n'))
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing state file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing state directory: %w", err)
	}
	return nil
}

// CheckOwner reads the state file in dir, if there is one, without creating
// or changing anything, and returns a *ForeignRecordError when it is the
// record of a node other than node. Commands that reach this node through
// its daemon (status, promote) call it so that they refuse a shared or
// copied state directory just as the commands that load the record do.
func CheckOwner(dir, node string) error {
	s := &Store{dir: dir, node: node}
	_, err := s.Load()
	if errors.Is(err, ErrNoState) {
		return nil
	}
	return err
}

// ErrStateGone means the state file disappeared while the process using it
// ran (its directory deleted, say): the record it acted on is gone.
var ErrStateGone = errors.New("state file disappeared")

// Present returns an error wrapping ErrStateGone when the state file no
// longer exists, or a *ForeignRecordError when it now holds the record of
// another node. Save replaces the file by a rename, so a running daemon
// never sees it missing by its own doing.
func (s *Store) Present() error {
	s.mu.Lock()
	_, err := os.Stat(s.Path())
	s.mu.Unlock()
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s no longer exists", ErrStateGone, s.Path())
	}
	if err != nil {
		return fmt.Errorf("checking state file: %w", err)
	}
	if _, err := s.Load(); errors.Is(err, ErrForeignRecord) {
		return err
	}
	return nil
}
