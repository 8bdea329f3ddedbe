package daemon

import (
	"context"

	"fmt"
	"github.com/rs/zerolog"
	"time"

	"github.com/pgswitch/pgswitch/internal/dbrole"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/service"
	"github.com/pgswitch/pgswitch/internal/state"
)

// localDB and peerDB are the two databases, each session verified against
// the system identifier recorded at init.
func (d *Daemon) localDB() *dbrole.DB { return d.drv.LocalDB() }

// verifySystem judges a system identifier that an applier session found
// against the record; one not recorded yet (a record from before they were
// kept, or the peer of a node initialised as the primary) is recorded now.
func (d *Daemon) verifySystem(which, id string) error {
	rec := d.drv.Record()
	expected, dsn := rec.LocalSystemID, d.conf().Postgres.DSN
	if which == "peer" {
		expected, dsn = rec.PeerSystemID, d.conf().Postgres.PeerDSN
	}
	switch {
	case expected == "":
		return d.drv.SaveRecord(func(r *state.Record) {
			if which == "peer" {
				r.PeerSystemID = id
			} else {
				r.LocalSystemID = id
			}
		})
	case id != expected:
		return &pgutil.WrongDatabaseError{Which: which, Host: pgutil.Describe(dsn), Expected: expected, Found: id}
	}
	return nil
}

func (d *Daemon) currentApplier() *appRun {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.applier
}

// bindVIP adds the VIP and announces it in the background: the first
// gratuitous ARP (or neighbour advertisement) leaves at once, the rest of
// the burst follows without holding up the switchover, and a second burst
// a little later reaches hosts that missed the first (keepalived's habit).
func (d *Daemon) bindVIP(ctx context.Context) error {
	if d.vip.Disabled() {
		return nil
	}
	ctx = d.logger().WithContext(ctx)
	if err := d.vip.Add(ctx); err != nil {
		return err
	}
	d.vipHeld.Store(true)
	actx := d.logger().WithContext(d.ctx)
	d.goOwned(func() {
		for i, wait := range []time.Duration{0, 2 * time.Second} {
			select {
			case <-time.After(wait):
			case <-d.ctx.Done():
				return
			}
			if i > 0 && handshake.WantOf(d.state()).VIP != handshake.Present {
				return
			}
			if err := d.vip.Announce(actx); err != nil {
				d.logger().Warn().Err(err).Str("vip", d.vip.Address()).Int("burst", i+1).Msg("announcing the VIP")
			}
		}
	})
	return nil
}

func (d *Daemon) releaseVIP(ctx context.Context) error {
	if d.vip.Disabled() {
		return nil
	}
	if err := d.vip.Release(d.logger().WithContext(ctx)); err != nil {
		return err
	}
	d.vipHeld.Store(false)
	return nil
}

func (d *Daemon) startService(ctx context.Context) error {
	return d.runService(ctx, "start", d.conf().Service.Start)
}

func (d *Daemon) stopService(ctx context.Context) error {
	return d.runService(ctx, "stop", d.conf().Service.Stop)
}

func (d *Daemon) runService(ctx context.Context, what string, argv []string) error {
	if len(argv) == 0 {
		return nil
	}
	runner := service.Runner{Timeout: d.conf().Service.Timeout, Log: *d.logger()}
	if err := runner.Run(ctx, what, argv); err != nil {
		return fmt.Errorf("service.%s: %w", what, err)
	}
	return nil
}

// reconcileResources compares the VIP and the database's client mode with
// what the state wants, and repairs drift (level-triggered).
func (d *Daemon) reconcileResources(ctx context.Context) {
	st := d.state()
	w := handshake.WantOf(st)
	if !d.vip.Disabled() {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		held, err := d.vip.Held(hctx)
		cancel()
		if err == nil {
			d.vipHeld.Store(held)
			switch {
			case held && w.VIP == handshake.Absent:
				d.logger().Warn().Str("vip", d.vip.Address()).Str("state", string(st)).Msg("releasing a VIP this node must not hold")
				if err := d.releaseVIP(ctx); err != nil {
					d.logger().Error().Err(err).Msg("releasing the VIP")
				}
			case !held && w.VIP == handshake.Present:
				d.logger().Warn().Str("vip", d.vip.Address()).Msg("the active node lacks the VIP: binding it")
				if err := d.bindVIP(ctx); err != nil {
					d.logger().Error().Err(err).Msg("binding the VIP")
				}
			}
		}
	}
	d.mu.Lock()
	db := d.db
	d.mu.Unlock()
	if !db.fresh() || !db.reachable {
		return
	}
	switch {
	case w.Clients == handshake.ClientsWritable && db.clientMode != "writable":
		d.logger().Warn().Str("client_mode", db.clientMode).Msg("the active node's database is not writable: lifting the fence")
		d.drv.Unfence(ctx, true)
	case w.Clients == handshake.ClientsReadOnly && db.clientMode == "writable":
		d.logger().Warn().Msg("the standby's database was writable for clients: making it read-only")
		d.drv.Unfence(ctx, false)
	case w.Clients == handshake.ClientsFenced && db.clientMode != "fenced":
		d.logger().Warn().Str("client_mode", db.clientMode).Msg("a FENCED node's database was not fenced: fencing it again")
		fctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
		if _, err := d.localDB().Fence(fctx); err != nil {
			d.logger().Error().Err(err).Msg("fencing again")
		}
		cancel()
	}
}

// refreshDB re-reads the local database view at once (after a change of
// its client mode), so probes answer the truth without waiting a tick.
func (d *Daemon) refreshDB() {
	select {
	case d.dbKick <- struct{}{}:
	default:
	}
}

// logger is the daemon's logger; during a switchover (and on a FENCED node)
// every line carries the switch_id. It takes no lock.
func (d *Daemon) logger() *zerolog.Logger { return d.drv.Logger() }
