package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/supervise"
)

// supervise runs on every reconcile tick: it turns what the watchers saw
// into named faults, moves a standby to FAULT and back, and lets the active
// start a switchover itself when failover.auto is on.
func (d *Daemon) supervise(ctx context.Context) {
	cfg := d.conf()
	grace := cfg.Supervision.FaultGrace
	st := d.state()
	d.mu.Lock()
	db, peer := d.db, d.peerView
	d.mu.Unlock()

	d.note(supervise.DatabaseUnreachable, "local database: "+db.err, !db.reachable || !db.fresh(), grace)
	// Never a passing hiccup: confirmed at once. The monitor checks the
	// local database, the applier both ends of each of its sessions.
	wrong := db.wrongDB
	if run := d.currentApplier(); run != nil && wrong == "" {
		if f := run.a.Status().Fault; f != nil && f.Reason == replication.FaultWrongDatabase {
			wrong = f.Detail
		}
	}
	d.note(supervise.WrongDatabase, wrong, wrong != "", 0)
	d.note(supervise.CannotCommit, "the database answers but cannot commit: "+db.commitErr,
		handshake.WantOf(st).CommitProbe && db.reachable && db.commitErr != "", grace)
	d.checkDisk(cfg.Supervision.DiskPath, db.dataDir, cfg.Supervision.DiskMinFreePercent, grace)
	d.note(supervise.PeerUnreachable, fmt.Sprintf("peer %s: %s", cfg.Peer.Name, peer.Error), !peer.Reachable && peer.Error != "", grace)
	d.checkApplier(grace)

	switch w := handshake.WantOf(st); {
	case w.LocalFaults:
		reason := d.standbyFault()
		switch {
		case reason != "" && !w.Faulty:
			_, _ = d.drv.Step(handshake.Event{Kind: handshake.EvLocalFault, Reason: reason})
		case reason == "" && w.Faulty:
			_, _ = d.drv.Step(handshake.Event{Kind: handshake.EvFaultCleared})
		}
	case w.SelfSwitchover:
		d.considerFailover()
	}
}

// note records a fault and logs when it is confirmed or clears.
func (d *Daemon) note(reason supervise.Reason, detail string, present bool, grace time.Duration) {
	if d.faults.Observe(reason, detail, present, grace) {
		if present {
			d.logger().Error().Str("fault", string(reason)).Str("detail", detail).Msg("fault")
		} else {
			d.logger().Info().Str("fault", string(reason)).Msg("fault cleared")
		}
	}
}

// checkDisk: free space of the data directory's filesystem.
func (d *Daemon) checkDisk(path, dataDir string, minFree int, grace time.Duration) {
	if path == "" {
		path = dataDir
	}
	o := supervise.DiskFree(path, minFree)
	d.note(o.Reason, o.Detail, o.Present, grace)
}

// checkApplier mirrors the applier's fault (or its not streaming) into the
// fault set.
func (d *Daemon) checkApplier(grace time.Duration) {
	var s replication.Status
	run := d.currentApplier()
	if run != nil {
		s = run.a.Status()
	}
	for _, o := range supervise.ApplierObservations(s, run != nil) {
		d.note(o.Reason, o.Detail, o.Present, grace)
	}
}

// standbyFault names a confirmed local fault that makes this standby unfit
// to become active, or "".
func (d *Daemon) standbyFault() string { return supervise.StandbyUnfit(d.faults.Confirmed()) }

// considerFailover starts a switchover from the active node itself when a
// fault that makes it unfit to serve has lasted failover.after. The
// switchover is the planned one, with the same proofs; when the peer is not
// a healthy, caught-up standby it is refused and tried again later. With
// the database down altogether nothing is switched: without a fence and a
// marker nothing proves that the standby has every acknowledged commit.
func (d *Daemon) considerFailover() {
	cfg := d.conf()
	if !cfg.Failover.Auto {
		return
	}
	for _, reason := range supervise.UnfitToServe {
		since, ok := d.faults.Has(reason)
		if !ok || time.Since(since) < cfg.Failover.After {
			continue
		}
		if time.Since(d.lastAuto) < cfg.Failover.After || !d.autoRunning.CompareAndSwap(false, true) {
			return
		}
		d.lastAuto = time.Now()
		started := d.goOwned(func() {
			defer d.autoRunning.Store(false)
			d.logger().Warn().Str("fault", string(reason)).Dur("for", time.Since(since)).Msg("fault-initiated switchover: this node is unfit to serve")
			res := d.drv.Promote(d.ctx, false, func(ev api.PromoteEvent) {
				if ev.Step != nil {
					d.logger().Info().Str("step_node", ev.Step.Node).Str("step_state", ev.Step.State).Dur("took", ev.Step.Took).Msg("fault-initiated switchover step")
				}
			})
			d.logger().Warn().Str("fault", string(reason)).Str("outcome", res.Outcome).Str("reason", res.Reason).Int64("took_ms", res.TookMS).Msg("fault-initiated switchover ended")
		})
		if !started {
			d.autoRunning.Store(false)
		}
		return
	}
	if since, ok := d.faults.Has(supervise.DatabaseUnreachable); ok && time.Since(since) >= cfg.Failover.After && time.Since(d.lastAuto) >= cfg.Failover.After {
		d.lastAuto = time.Now()
		d.logger().Error().Msg("the active database is down: not switching over automatically, because nothing can prove that the standby has every acknowledged commit; restart the database, or run pgswitch promote once you know it has")
	}
}

// watchService runs service.check on the active node every
// supervision.service_check_interval; service.check fails this many times
// in a row before it is a fault.
func (d *Daemon) watchService(ctx context.Context) error {
	failures := 0
	for {
		cfg := d.conf()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.Supervision.ServiceCheckInterval):
		}
		if len(cfg.Service.Check) == 0 || !handshake.WantOf(d.state()).ServiceCheck {
			failures = 0
			d.note(supervise.ServiceCheck, "", false, 0)
			continue
		}
		err := d.runService(ctx, "check", cfg.Service.Check)
		if err != nil {
			failures++
		} else {
			failures = 0
		}
		detail := ""
		if err != nil {
			detail = fmt.Sprintf("%d consecutive failures of service.check: %v", failures, err)
		}
		d.note(supervise.ServiceCheck, detail, failures >= cfg.Supervision.ServiceCheckFailures, 0)
	}
}
