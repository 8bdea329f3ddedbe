package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/netbind"
	"github.com/pgswitch/pgswitch/internal/quorum"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/state"
	"github.com/pgswitch/pgswitch/internal/supervise"
	"github.com/pgswitch/pgswitch/internal/switchover"
	"github.com/pgswitch/pgswitch/internal/syncpolicy"
)

// Version is set by the command line from the build.
var Version = "dev"

// Daemon is one node's pgswitch.
type Daemon struct {
	cfg   atomic.Pointer[config.Config] // replaced on SIGHUP (reloadable keys only)
	level *config.LevelVar
	log   zerolog.Logger
	store *state.Store // its lock held for the daemon's life
	sec   *api.Security
	drv   *switchover.Driver // the record and the handshake

	vip *netbind.VIP

	mu       sync.Mutex
	db       dbView
	peerView api.PeerView
	quorum   *api.Quorum // nil without quorum.endpoints
	applier  *appRun

	faults      supervise.Set
	lastAuto    time.Time // the last fault-initiated switchover (reconcile goroutine only)
	autoRunning atomic.Bool
	sync        syncpolicy.State // reconcile goroutine only
	syncKey     syncKeyState     // reconcile goroutine only

	vipHeld atomic.Bool
	dbKick  chan struct{}

	// ctx and wg own every goroutine the daemon starts outside Run's
	// errgroup (switch-in, timers); Run waits for them.
	ctx      context.Context
	wg       sync.WaitGroup
	spawnMu  sync.Mutex
	stopping bool // set before wg.Wait: no goroutine is started after

	registry *prometheus.Registry
	renewals *prometheus.CounterVec
	// keepPromiseUntil: a failsafe promise of an earlier process still
	// runs until then (no takeover before).
	keepPromiseUntil time.Time
	peer             *api.Client // one for the daemon's life: its connections are reused

	// lead is the quorum side (nil without quorum.endpoints); leaderKick
	// wakes its loop.
	lead       *leadership
	leaderKick chan struct{}
}

// appRun is a running applier and how to stop it.
type appRun struct {
	a      *replication.Applier
	cancel context.CancelFunc
	done   chan struct{}
}

// New prepares a daemon: reads the security material, takes the node's
// lock and loads its state. It changes nothing.
func New(cfg *config.Config, log zerolog.Logger, level *config.LevelVar) (*Daemon, error) {
	sec, err := api.LoadSecurity(cfg.Security.TokenFile, cfg.Security.TLSCert, cfg.Security.TLSKey, cfg.Security.TLSCA)
	if err != nil {
		return nil, err
	}
	store, err := state.Open(cfg.Node.StateDir, cfg.Node.Name)
	if err != nil {
		return nil, err
	}
	if err := store.Lock(); err != nil {
		return nil, fmt.Errorf("node %s: %w", cfg.Node.Name, err)
	}
	rec, err := store.Load()
	if err != nil {
		store.Unlock()
		return nil, fmt.Errorf("node %s: %w", cfg.Node.Name, err)
	}
	if !handshake.WantOf(rec.State).Runs {
		store.Unlock()
		return nil, fmt.Errorf("node %s: the initial copy did not finish; run pgswitch init --role standby again", cfg.Node.Name)
	}
	vip, err := netbind.New(netbind.Config{Address: cfg.VIP.Address, Interface: cfg.VIP.Interface,
		GARPCount: cfg.VIP.GARPCount, GARPInterval: cfg.VIP.GARPInterval}, log)
	if err != nil {
		store.Unlock()
		return nil, err
	}
	d := &Daemon{log: log, level: level, store: store, sec: sec, vip: vip,
		dbKick:   make(chan struct{}, 1),
		ctx:      context.Background(),
		registry: prometheus.NewRegistry(),
		peer:     api.NewClient(cfg.Peer.APIURL, sec, 0)}
	d.cfg.Store(cfg)
	d.registry.MustRegister(newCollector(d), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if len(cfg.Quorum.Endpoints) > 0 {
		c, err := quorum.New(quorum.FromConfig(cfg.Quorum))
		if err != nil {
			store.Unlock()
			return nil, fmt.Errorf("node %s: %w", cfg.Node.Name, err)
		}
		d.lead = &leadership{c: c}
		d.leaderKick = make(chan struct{}, 1)
		d.renewals = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "pgswitch_lease_renewals_total",
			Help:        "Renewals of the leader lease this node sent, by result (ok, failed).",
			ConstLabels: prometheus.Labels{"node": cfg.Node.Name},
		}, []string{"result"})
		d.registry.MustRegister(d.renewals)
	}
	d.drv = switchover.New(env{d}, store, rec, d.peer, switchover.NewMetrics(cfg.Node.Name, d.registry), log)
	return d, nil
}

// Run serves until ctx ends. On the way out it stops the applier (which
// sends its final feedback) and the API; it leaves the VIP, the service
// program and the database's role as they are.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.store.Unlock()
	ln, err := net.Listen("tcp", d.conf().Node.APIListen)
	if err != nil {
		return fmt.Errorf("node.api_listen %s: %w", d.conf().Node.APIListen, err)
	}
	d.log.Info().Str("state", string(d.state())).Uint64("epoch", d.epoch()).Str("listen", ln.Addr().String()).
		Str("version", Version).Msg("pgswitch daemon starting")

	g, gctx := errgroup.WithContext(ctx)
	d.ctx = gctx
	d.keepPromiseUntil = keptPromise(d.drv.Record(), d.conf().Quorum.LeaseTTL, time.Now())
	srv := api.NewServer(d, d.sec, promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{}), d.log)
	d.routes(srv)
	g.Go(func() error { return srv.Serve(gctx, ln) })
	g.Go(func() error { return d.watchDatabase(gctx) })
	g.Go(func() error { return d.watchPeer(gctx) })
	g.Go(func() error { return d.watchQuorum(gctx) })
	g.Go(func() error { return d.leaderLoop(gctx) })
	g.Go(func() error { return d.watchService(gctx) })
	g.Go(func() error { return d.watchSlots(gctx) })
	g.Go(func() error { return d.watchStateFile(gctx) })
	// Resume or abort an interrupted switchover by the failure rules.
	if acts, err := d.drv.Step(handshake.Event{Kind: handshake.EvRestart}); err == nil {
		d.goOwned(func() {
			d.drv.Drive(gctx, acts)
		})
	}
	g.Go(func() error { return d.reconcile(gctx) })
	err = g.Wait()
	d.spawnMu.Lock()
	d.stopping = true
	d.spawnMu.Unlock()
	d.wg.Wait()
	d.stopApplier()
	if d.lead != nil {
		d.lead.c.Close()
	}
	d.log.Info().Msg("pgswitch daemon stopped")
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// goOwned runs f in a goroutine that Run waits for; after Run began to
// stop it runs nothing and reports false (a request handler racing the
// shutdown must not add to a WaitGroup being waited on).
func (d *Daemon) goOwned(f func()) bool {
	d.spawnMu.Lock()
	defer d.spawnMu.Unlock()
	if d.stopping {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
	return true
}

// watchStateFile stops the daemon when its state file disappears (the state
// directory deleted under it) or is replaced by another node's record: the
// record the daemon acts on is gone, and running on would act on a node
// nobody initialised.
func (d *Daemon) watchStateFile(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := d.store.Present(); err != nil {
			d.log.Error().Err(err).Msg("state file lost: stopping")
			return fmt.Errorf("node %s: stopping: %w (run pgswitch init to record the node again)", d.conf().Node.Name, err)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// reconcile compares what should run with what runs, on a ticker: the
// applier runs exactly while the node is a standby (STANDBY, FAULT,
// AGREE_SWITCH); the VIP and the database's client mode follow the state;
// local faults move a standby to FAULT and back; a FENCED node keeps asking
// its peer.
func (d *Daemon) reconcile(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastQuery := time.Time{}
	// peerSlotGone: a standby has made sure that the slot the peer streamed
	// from while this node was active is gone (following drops it, but a
	// kill -9 may come first; every start checks again).
	peerSlotGone := false
	for {
		st := d.state()
		d.mu.Lock()
		running := d.applier != nil
		wrongDB := d.db.wrongDB != ""
		// The applier waits for the first check of the local database,
		// which verifies its system identifier.
		unchecked := d.db.checkedAt.IsZero()
		d.mu.Unlock()
		w := handshake.WantOf(st)
		switch {
		case wrongDB:
			// Not the database this node was initialised on: take
			// nothing there (no origin, no slot, no writes).
			if running {
				d.stopApplier()
			}
		case unchecked:
		case w.Applier == handshake.Present && !running:
			d.startApplier(ctx)
		case w.Applier == handshake.Absent && running:
			d.stopApplier()
		}
		switch {
		case !w.PeerSlotAbsent:
			peerSlotGone = false
		case !peerSlotGone && !wrongDB && !unchecked:
			peerSlotGone = d.drv.DropPeerSlot(ctx)
		}
		d.supervise(ctx)
		d.clearRejoinSkips()
		d.reconcileResources(ctx)
		d.reconcileSync(ctx)
		if w.QueryPeer && time.Since(lastQuery) > 2*time.Second {
			// One try, so that the loop keeps repairing the VIP and the
			// fence meanwhile; the answer, or its absence, is the table's.
			lastQuery = time.Now()
			if ev, ok := d.drv.QueryPeer(ctx, 2*time.Second); ok && (ev.Kind != handshake.EvPeerUnreachable || ev.Reason != d.drv.Record().Reason) {
				d.drv.StepAndDrive(ctx, ev)
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

func (d *Daemon) startApplier(ctx context.Context) {
	a := replication.New(replication.Config{
		LocalDSN:     d.conf().Postgres.DSN,
		PeerDSN:      d.conf().Postgres.PeerDSN,
		Slot:         d.conf().SlotName(),
		Publication:  d.conf().Replication.Publication,
		Origin:       d.conf().OriginName(),
		AppName:      d.conf().ApplicationName(),
		Synchronous:  d.conf().Replication.Synchronous,
		MaxGroupTxns: d.conf().Replication.GroupMax,
		VerifySystem: d.verifySystem,
		SkipUntil:    d.rejoinSkips(),
	}, d.log)
	actx, cancel := context.WithCancel(ctx)
	run := &appRun{a: a, cancel: cancel, done: make(chan struct{})}
	d.mu.Lock()
	d.applier = run
	d.mu.Unlock()
	go func() {
		defer close(run.done)
		_ = a.Run(actx)
	}()
}

// stopApplier stops the applier and waits until it has committed what was
// complete and reported it.
func (d *Daemon) stopApplier() {
	d.mu.Lock()
	run := d.applier
	d.applier = nil
	d.mu.Unlock()
	if run == nil {
		return
	}
	run.cancel()
	<-run.done
	st := run.a.Status()
	d.logger().Info().Str("lsn", st.AppliedLSN.String()).Uint64("applied_transactions", st.AppliedTxns).Msg("applier stopped")
}

func (d *Daemon) state() handshake.State { return d.drv.State() }

func (d *Daemon) epoch() uint64 { return d.drv.Epoch() }

func (d *Daemon) applierStatus() (replication.Status, bool) {
	d.mu.Lock()
	run := d.applier
	d.mu.Unlock()
	if run == nil {
		return replication.Status{}, false
	}
	return run.a.Status(), true
}
