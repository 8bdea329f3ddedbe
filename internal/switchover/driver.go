package switchover

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/dbrole"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/state"
)

// Env is what the driver acts on that the daemon owns.
type Env interface {
	// Config is the configuration in force (reloaded on SIGHUP).
	Config() *config.Config
	// Context ends when the daemon stops; Go runs f on a goroutine the
	// daemon waits for, and reports false (running nothing) once it is
	// stopping.
	Context() context.Context
	Go(f func()) bool

	BindVIP(ctx context.Context) error
	ReleaseVIP(ctx context.Context) error
	StartService(ctx context.Context) error
	StopService(ctx context.Context) error

	// Applier is the running applier, nil when none runs; StopApplier
	// stops it and waits until it has committed what was complete.
	Applier() *replication.Applier
	StopApplier()

	// Writable says whether the daemon's last view of the local database
	// (at most a few seconds old) found it reachable and writable for
	// clients, and if not why; RefreshDB asks for a new view now.
	Writable() (bool, string)
	RefreshDB()
	// StandbyFault is the confirmed fault that makes this node unfit to
	// switch in, "" when none.
	StandbyFault() string
	// StrictSync names the synchronous standby before the first write when
	// strict synchronous mode wants it.
	StrictSync(ctx context.Context) error

	// With a quorum (SPEC §9). KickLeader has the leadership loop act on
	// the state now (hold_lease, claim_leader). TakeLeaderKey makes the
	// leader key this node's in epoch from+1, taking it from the peer
	// that holds it in from (the planned switch-in, before this node
	// becomes writable). PublishedSequences are the sequence positions
	// the old active published, with their margin.
	KickLeader()
	TakeLeaderKey(ctx context.Context, from uint64) error
	PublishedSequences(ctx context.Context) (map[string]int64, error)
}

// Metrics are the switchover's histograms and counters.
type Metrics struct {
	steps    *prometheus.HistogramVec
	outcomes *prometheus.CounterVec
	takeover prometheus.Histogram
}

// NewMetrics registers the switchover metrics of node on reg.
func NewMetrics(node string, reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "pgswitch_switchover_step_seconds",
			Help:        "Duration of each switchover step on this node, by the state it ended in.",
			ConstLabels: prometheus.Labels{"node": node},
			Buckets:     []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"state"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "pgswitch_switchovers_total",
			Help:        "Switchovers this node took part in, by outcome (done, aborted, fenced).",
			ConstLabels: prometheus.Labels{"node": node},
		}, []string{"outcome"}),
		takeover: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "pgswitch_takeover_seconds",
			Help:        "Unplanned takeovers by this node: from seeing the active's lease gone (or the failover command) to ACTIVE.",
			ConstLabels: prometheus.Labels{"node": node},
			Buckets:     []float64{.1, .25, .5, 1, 2, 3, 5, 10, 30},
		}),
	}
	reg.MustRegister(m.steps, m.outcomes, m.takeover)
	return m
}

// Driver is one node's side of the handshake.
type Driver struct {
	env     Env
	store   *state.Store
	log     zerolog.Logger
	peer    *api.Client
	metrics *Metrics

	mu  sync.Mutex
	rec state.Record

	// slotMu orders every drop of the peer's slot on this database (the
	// standby's housekeeping, the daemon's sweep) with the switch-in that
	// creates it as the reverse slot: a drop re-checks the state under it.
	slotMu sync.Mutex

	swlog    atomic.Pointer[zerolog.Logger]
	switches switchLog
}

// New is the driver of the record rec, loaded from store (whose lock the
// caller holds); peer is the client of the peer's API.
func New(env Env, store *state.Store, rec state.Record, peer *api.Client, m *Metrics, log zerolog.Logger) *Driver {
	d := &Driver{env: env, store: store, rec: rec, peer: peer, metrics: m, log: log}
	d.setLogger(rec)
	return d
}

func (d *Driver) conf() *config.Config { return d.env.Config() }

// Record is the persisted record as it stands.
func (d *Driver) Record() state.Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec
}

// State is the record's handshake state.
func (d *Driver) State() handshake.State { return d.Record().State }

// Node is the handshake part of the record, as the table reads it.
func (d *Driver) Node() handshake.Node { return d.Record().Node }

// Epoch is the record's epoch.
func (d *Driver) Epoch() uint64 { return d.Record().Epoch }

// Logger is the node's logger; during a switchover (and on a FENCED node)
// every line carries the switch_id. It takes no lock.
func (d *Driver) Logger() *zerolog.Logger {
	if l := d.swlog.Load(); l != nil {
		return l
	}
	return &d.log
}

// setLogger picks the logger for the state just entered (under d.mu).
func (d *Driver) setLogger(rec state.Record) {
	if handshake.WantOf(rec.State).InSwitchover {
		l := d.log.With().Str("switch_id", rec.SwitchID).Logger()
		d.swlog.Store(&l)
	} else {
		d.swlog.Store(nil)
	}
}

// LocalDB and PeerDB are the two databases, each session verified against
// the system identifier recorded at init.
func (d *Driver) LocalDB() *dbrole.DB {
	id := d.Record().LocalSystemID
	return &dbrole.DB{DSN: d.conf().Postgres.DSN, AppName: d.conf().ApplicationName(), Log: d.log, SystemID: id, Which: "local"}
}

// PeerDB: see LocalDB.
func (d *Driver) PeerDB() *dbrole.DB {
	id := d.Record().PeerSystemID
	return &dbrole.DB{DSN: d.conf().Postgres.PeerDSN, AppName: d.conf().ApplicationName(), Log: d.log, SystemID: id, Which: "peer"}
}

// Step feeds one event to the state machine, persists the new state and
// only then returns the actions to perform (SPEC §2: persisted before it is
// acted on).
func (d *Driver) Step(ev handshake.Event) ([]handshake.Action, error) {
	acts, entered, err := d.stepLocked(ev)
	if err == nil && entered != "" {
		d.testHold(entered)
	}
	return acts, err
}

func (d *Driver) stepLocked(ev handshake.Event) ([]handshake.Action, handshake.State, error) {
	ev.Quorum = d.quorum()
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.rec
	next, acts, err := handshake.Step(prev.Node, ev)
	if err != nil {
		lvl := zerolog.WarnLevel
		if ev.Kind == handshake.EvAgreeTimeout {
			// The timer of every agreed switchover fires; after the
			// switch-in its event is rejected, as it should be.
			lvl = zerolog.DebugLevel
		}
		d.log.WithLevel(lvl).Err(err).Str("state", string(prev.State)).Str("event", string(ev.Kind)).
			Str("switch_id", ev.SwitchID).Uint64("epoch", ev.Epoch).Msg("handshake event rejected")
		return nil, "", err
	}
	rec := prev
	rec.Node = next
	if err := d.store.Save(rec, prev.State); err != nil {
		return nil, "", fmt.Errorf("persisting %s: %w", next.State, err)
	}
	d.rec = rec
	d.setLogger(rec)
	d.noteStep(prev.State, rec, ev)
	d.log.Info().Str("from", string(prev.State)).Str("state", string(rec.State)).Uint64("epoch", rec.Epoch).
		Str("switch_id", rec.SwitchID).Str("event", string(ev.Kind)).Str("reason", ev.Reason).
		Interface("actions", acts).Msg("handshake transition")
	entered := rec.State
	if prev.State == rec.State {
		entered = ""
	}
	return acts, entered, nil
}

// SaveRecord persists a change of the record that is not a handshake
// transition (the state stays as it is).
func (d *Driver) SaveRecord(change func(r *state.Record)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := d.rec
	change(&rec)
	if err := d.store.Save(rec, rec.State); err != nil {
		return fmt.Errorf("persisting the record: %w", err)
	}
	d.rec = rec
	return nil
}

// StepAndDrive steps and, when the table took the event, performs its
// actions to the end; it reports whether the event was taken.
func (d *Driver) StepAndDrive(ctx context.Context, ev handshake.Event) bool {
	acts, err := d.Step(ev)
	if err != nil {
		return false
	}
	d.Drive(ctx, acts)
	return true
}

// Drive performs actions in order, feeding each outcome back as an event,
// until nothing is left to do.
func (d *Driver) Drive(ctx context.Context, acts []handshake.Action) {
	for len(acts) > 0 {
		a := acts[0]
		acts = acts[1:]
		ev, ok := d.perform(ctx, a)
		if !ok {
			continue
		}
		more, err := d.Step(ev)
		if err != nil && (a == handshake.ActSendSwitchOut || a == handshake.ActQueryPeer) {
			// The peer answered about another switchover or epoch (the
			// table rejected it): that proves nothing about this one,
			// so it counts as no answer — FENCED, asking again.
			more, err = d.Step(handshake.Event{Kind: handshake.EvPeerUnreachable, SwitchID: d.switchID(),
				Reason: fmt.Sprintf("%s answered about another switchover or epoch (%s): %v", d.conf().Peer.Name, ev, err)})
		}
		if err != nil {
			continue
		}
		acts = append(acts, more...)
	}
}

// DriveOwned performs actions of a persisted step outside the request that
// caused it, on a goroutine the daemon owns: a handler answers from the
// persisted state and never waits on the actions. A daemon that is stopping
// performs them when it starts again (its restart edge).
func (d *Driver) DriveOwned(acts []handshake.Action) {
	if len(acts) == 0 {
		return
	}
	d.env.Go(func() { d.Drive(d.env.Context(), acts) })
}

// perform runs one action and returns the event it produced, if any.
func (d *Driver) perform(ctx context.Context, a handshake.Action) (handshake.Event, bool) {
	switch a {
	case handshake.ActFence:
		return d.actFence(ctx)
	case handshake.ActSendRequest:
		return d.actSendRequest(ctx)
	case handshake.ActSendAbort:
		d.actSendAbort(ctx)
	case handshake.ActUnfenceWritable:
		d.Unfence(ctx, true)
	case handshake.ActSwitchOut:
		return d.actSwitchOut(ctx)
	case handshake.ActSendSwitchOut:
		return d.actSendSwitchOut(ctx)
	case handshake.ActQueryPeer:
		return d.QueryPeer(ctx, d.switchInBudget())
	case handshake.ActResume:
		d.actResume(ctx)
	case handshake.ActFollow:
		d.actFollow(ctx)
	case handshake.ActSwitchIn:
		return d.actSwitchIn(ctx)
	case handshake.ActSelfFence:
		d.actSelfFence(ctx)
	case handshake.ActTakeOver:
		return d.actTakeOver(ctx)
	case handshake.ActHoldLease, handshake.ActClaimLeader:
		// The leadership loop owns the lease and the key.
		d.env.KickLeader()
	case handshake.ActRunApplier, handshake.ActReplyAgree, handshake.ActReplyRefuse, handshake.ActReplyActive, handshake.ActWaitCatchUp:
		// The reconcile loop runs the applier; replies and the catch-up
		// wait belong to the request handlers that fed the event.
	default:
		d.Logger().Error().Str("action", string(a)).Msg("unknown handshake action")
	}
	return handshake.Event{}, false
}

func (d *Driver) switchID() string { return d.Record().SwitchID }

// NewSwitchID is a fresh switchover (or takeover) id: the time and a random part.
func NewSwitchID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

func parseLSN(s string) (replication.LSN, error) {
	if s == "" {
		return 0, nil
	}
	return replication.ParseLSN(s)
}
