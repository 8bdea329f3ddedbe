package replication

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Config is what the applier needs to know.
type Config struct {
	LocalDSN    string // the standby's own database
	PeerDSN     string // the active node's database (source of the slot)
	Slot        string // slot on the active node, pgswitch_<this node>
	Publication string
	Origin      string // replication origin on the standby
	AppName     string // application_name of the walsender connection
	Synchronous bool   // commit each applied transaction durably at once
	// VerifySystem, when set, is given the system identifier of the local
	// ("local") and of the peer's ("peer") database cluster on every
	// session (each reconnection), before anything is taken there (the
	// origin, the slot): an error refuses the session as the fault
	// wrong_database.
	VerifySystem func(which, id string) error

	// SkipUntil: tables ("schema.table") re-copied by pgswitch rejoin, each
	// with its copy's snapshot position: their changes in a source
	// transaction that commits before it are in the copy, and are not
	// applied again (PostgreSQL's table synchronisation keeps the same
	// start position per table).
	SkipUntil map[string]LSN

	// Optional tuning; zero means the default.
	MaxBatchBytes    int           // queued in the pipeline before a round trip (default 128 KiB)
	FeedbackInterval time.Duration // status to the walsender when idle (default 10 s)
	FlushPoll        time.Duration // polling of the local flush position (default 100 ms)
	LagPoll          time.Duration // polling of the primary's WAL position (default 1 s)
	MinBackoff       time.Duration // first reconnect delay (default 200 ms)
	MaxBackoff       time.Duration // longest reconnect delay (default 5 s)
	// StopGrace bounds a stop: the session may finish what is complete
	// for this long, then its connections are cut, so that a hung backend
	// (a lock wait, a stuck disk) cannot hold the daemon's shutdown or a
	// switch-in (default 10 s).
	StopGrace time.Duration
	// ReceiveTimeout ends a session whose walsender is silent (a host
	// gone without a reset, a stopped walsender), like PostgreSQL's
	// wal_receiver_timeout: after a third of it without a message the
	// applier asks the walsender for a reply, and gives up when none has
	// come two thirds of it later (checked every third, so it ends within
	// 4/3 of it). An idle primary answers the ping and is never taken for
	// a lost one. A status write is bounded by it too (default 15 s).
	ReceiveTimeout time.Duration

	// A group is several consecutive whole source transactions applied in
	// one local transaction, formed only from what is already waiting: a
	// transaction that arrives alone is committed alone. These bound one
	// group: at most MaxGroupTxns source transactions (default 64; 1
	// applies each alone), no more once their changes reach MaxGroupBytes
	// (default 4 MiB) or the first was queued MaxGroupDelay ago (default
	// 10 ms).
	MaxGroupTxns  int
	MaxGroupBytes int
	MaxGroupDelay time.Duration
}

func (c *Config) defaults() {
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 128 << 10
	}
	if c.MaxGroupTxns <= 0 {
		c.MaxGroupTxns = 64
	}
	if c.MaxGroupBytes <= 0 {
		c.MaxGroupBytes = 4 << 20
	}
	if c.MaxGroupDelay <= 0 {
		c.MaxGroupDelay = 10 * time.Millisecond
	}
	if c.FeedbackInterval <= 0 {
		c.FeedbackInterval = 10 * time.Second
	}
	if c.FlushPoll <= 0 {
		c.FlushPoll = 100 * time.Millisecond
	}
	if c.LagPoll <= 0 {
		c.LagPoll = time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 200 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.ReceiveTimeout <= 0 {
		c.ReceiveTimeout = 15 * time.Second
	}
}

// Applier streams from the active node's slot and applies to the local
// database. Run it once; read Status from any goroutine.
type Applier struct {
	cfg Config
	log zerolog.Logger

	// soloUntil: source transactions that start before it are applied one
	// per local transaction (set after a fault of the data, so that the
	// retry names the one transaction that fails).
	soloUntil atomic.Uint64

	mu      sync.Mutex
	status  Status
	changed chan struct{} // closed and replaced on every status change
}

// New returns an applier; nothing runs until Run.
func New(cfg Config, log zerolog.Logger) *Applier {
	cfg.defaults()
	return &Applier{
		cfg:     cfg,
		log:     log.With().Str("component", "applier").Str("slot", cfg.Slot).Logger(),
		changed: make(chan struct{}),
	}
}

// Status returns a snapshot.
func (a *Applier) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status
	s.Markers = append([]Marker(nil), s.Markers...)
	return s
}

// update changes the status under the lock and wakes waiters.
func (a *Applier) update(f func(*Status)) {
	a.mu.Lock()
	f(&a.status)
	a.status.Updated = time.Now()
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

// WaitFor blocks until cond holds for the status, or ctx ends.
func (a *Applier) WaitFor(ctx context.Context, cond func(Status) bool) (Status, error) {
	for {
		a.mu.Lock()
		s, ch := a.status, a.changed
		a.mu.Unlock()
		if cond(s) {
			return a.Status(), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return a.Status(), ctx.Err()
		}
	}
}

// Run applies until ctx ends, reconnecting with backoff after any failure.
// A failure is kept in Status().Fault (named) until a session applies again.
// It returns nil when ctx ends.
func (a *Applier) Run(ctx context.Context) error {
	a.update(func(s *Status) { s.Running = true })
	defer a.update(func(s *Status) { s.Running = false; s.Streaming = false })
	backoff := a.cfg.MinBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := a.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fault, ok := AsFault(err)
		if !ok {
			fault = &Fault{Reason: FaultStream, Detail: "replication session ended", Err: err}
		}
		a.update(func(s *Status) { s.Streaming = false; s.Fault = fault })
		a.log.Error().Err(err).Str("fault", string(fault.Reason)).Dur("retry_in", backoff).Msg("applier stopped; will retry")
		if time.Since(started) > 30*time.Second {
			backoff = a.cfg.MinBackoff
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, a.cfg.MaxBackoff)
	}
	return nil
}

// errStopped marks the orderly end of a session.
var errStopped = errors.New("applier stopped")

func wrapPrimary(err error, what string) error {
	if _, ok := AsFault(err); ok {
		return err
	}
	return &Fault{Reason: FaultPrimaryUnreachable, Detail: what, Err: err}
}
