package switchover

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/state"
)

// fakeEnv records what the driver did to the node. Its databases are
// unreachable (a closed port), so any action on them fails fast.
type fakeEnv struct {
	cfg     *config.Config
	ctx     context.Context
	refuse  bool // Go runs nothing, as a stopping daemon
	mu      sync.Mutex
	calls   []string
	spawned sync.WaitGroup
}

func (e *fakeEnv) call(s string) { e.mu.Lock(); e.calls = append(e.calls, s); e.mu.Unlock() }
func (e *fakeEnv) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}
func (e *fakeEnv) Config() *config.Config   { return e.cfg }
func (e *fakeEnv) Context() context.Context { return e.ctx }
func (e *fakeEnv) Go(f func()) bool {
	if e.refuse {
		return false
	}
	e.spawned.Add(1)
	go func() { defer e.spawned.Done(); f() }()
	return true
}
func (e *fakeEnv) BindVIP(context.Context) error      { e.call("bind_vip"); return nil }
func (e *fakeEnv) ReleaseVIP(context.Context) error   { e.call("release_vip"); return nil }
func (e *fakeEnv) StartService(context.Context) error { e.call("start_service"); return nil }
func (e *fakeEnv) StopService(context.Context) error  { e.call("stop_service"); return nil }
func (e *fakeEnv) Applier() *replication.Applier      { return nil }
func (e *fakeEnv) StopApplier()                       { e.call("stop_applier") }
func (e *fakeEnv) Writable() (bool, string)           { return true, "" }
func (e *fakeEnv) RefreshDB()                         {}
func (e *fakeEnv) StandbyFault() string               { return "" }
func (e *fakeEnv) StrictSync(context.Context) error   { e.call("strict_sync"); return nil }
func (e *fakeEnv) KickLeader()                        { e.call("kick_leader") }
func (e *fakeEnv) TakeLeaderKey(context.Context, uint64) error {
	e.call("take_leader_key")
	return nil
}
func (e *fakeEnv) PublishedSequences(context.Context) (map[string]int64, error) { return nil, nil }

// newDriver is a driver of node db-1 in st, its record in a fresh state
// directory, its databases and its peer on closed ports.
func newDriver(t *testing.T, st handshake.State) (*Driver, *fakeEnv, *state.Store) {
	t.Helper()
	cfg, err := config.LoadBytes([]byte(`node:
  name: db-1
  api_listen: "127.0.0.1:7400"
peer:
  name: db-2
  api_url: http://127.0.0.1:1
postgres:
  dsn: host=127.0.0.1 port=1 dbname=app connect_timeout=1
  peer_dsn: host=127.0.0.1 port=1 dbname=app connect_timeout=1
security:
  token_file: /nonexistent
switchover:
  step_timeout: 1s
`), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	store, err := state.Open(t.TempDir(), "db-1")
	if err != nil {
		t.Fatal(err)
	}
	rec := state.Record{Name: "db-1", Node: handshake.Node{State: st, Epoch: 3}}
	if err := store.Save(rec, ""); err != nil {
		t.Fatal(err)
	}
	env := &fakeEnv{cfg: cfg, ctx: t.Context()}
	t.Cleanup(env.spawned.Wait)
	sec := &api.Security{Token: []byte("t")}
	return New(env, store, rec, api.NewClient(cfg.Peer.APIURL, sec, 0), nil, zerolog.Nop()), env, store
}

// reload reads the record as a restarted daemon would.
func reload(t *testing.T, s *state.Store) state.Record {
	t.Helper()
	r, err := s.Load()
	if err != nil {
		t.Fatalf("reading the state file: %v", err)
	}
	return r
}

func TestStepPersistsBeforeItReturnsTheActions(t *testing.T) {
	d, env, store := newDriver(t, handshake.Active)
	acts, err := d.Step(handshake.Event{Kind: handshake.EvPromote, SwitchID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acts, []handshake.Action{handshake.ActFence}) {
		t.Fatalf("actions %v, want [fence]", acts)
	}
	if r := reload(t, store); r.State != handshake.RequestingSwitch || r.SwitchID != "s1" {
		t.Fatalf("on disk before any action: %s %q, want REQUESTING_SWITCH s1", r.State, r.SwitchID)
	}
	if c := env.Calls(); len(c) != 0 {
		t.Fatalf("Step acted on the node: %v", c)
	}
}

func TestRejectedEventChangesNothing(t *testing.T) {
	d, _, store := newDriver(t, handshake.Standby)
	before := reload(t, store)
	// A switch-out for a switchover this standby never agreed to.
	if _, err := d.Step(handshake.Event{Kind: handshake.EvSwitchOut, SwitchID: "other", Epoch: 3}); err == nil {
		t.Fatal("a STANDBY took SWITCH_OUT without agreeing")
	}
	after := reload(t, store)
	if after.State != before.State || after.SwitchID != before.SwitchID || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("a rejected event rewrote the record: %+v -> %+v", before, after)
	}
}

// A fence that cannot reach the database abandons the switchover (SPEC
// §3's failure rule): the node is ACTIVE again, on disk too, and the VIP
// and service program were never touched.
func TestPromoteWhoseFenceFailsStaysActive(t *testing.T) {
	d, env, store := newDriver(t, handshake.Active)
	acts, err := d.Step(handshake.Event{Kind: handshake.EvPromote, SwitchID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	d.Drive(t.Context(), acts)
	r := reload(t, store)
	if r.State != handshake.Active || !strings.Contains(r.Reason, "fence") {
		t.Fatalf("after a failed fence: %s (%q), want ACTIVE with the fence's error", r.State, r.Reason)
	}
	for _, c := range env.Calls() {
		if c == "release_vip" || c == "stop_service" {
			t.Fatalf("a failed fence still %s", c)
		}
	}
	if ls := d.LastSwitchover(); ls == nil || ls.Outcome != string(handshake.ResultAborted) {
		t.Fatalf("last switchover %+v, want aborted", ls)
	}
}

func TestMessagesFromAnotherNodeAreRefused(t *testing.T) {
	d, _, store := newDriver(t, handshake.Standby)
	before := reload(t, store)
	checks := map[string]error{}
	_, checks["request"] = d.OnRequest(t.Context(), api.PeerRequest{From: "db-9", SwitchID: "s1", Epoch: 3})
	_, checks["switch_out"] = d.OnSwitchOut(t.Context(), api.PeerSwitchOut{From: "db-9", SwitchID: "s1", Epoch: 3})
	_, checks["resolve"] = d.OnResolve(api.PeerResolve{From: "db-9", SwitchID: "s1", Epoch: 3})
	checks["abort"] = d.OnAbort(api.PeerAbort{From: "db-9", SwitchID: "s1"})
	for what, err := range checks {
		if !errors.Is(err, ErrWrongPeer) {
			t.Errorf("%s from db-9: %v, want ErrWrongPeer", what, err)
		}
	}
	if after := reload(t, store); !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("a refused message rewrote the record")
	}
}

// A stopping daemon runs no new goroutine: the persisted step's actions
// wait for the next start (its restart edge), and nothing is acted on now.
func TestDriveOwnedOnAStoppingDaemonActsOnNothing(t *testing.T) {
	d, env, _ := newDriver(t, handshake.Active)
	env.refuse = true
	d.DriveOwned([]handshake.Action{handshake.ActSwitchOut})
	if c := env.Calls(); len(c) != 0 {
		t.Fatalf("acted while stopping: %v", c)
	}
}
