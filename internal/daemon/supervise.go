package daemon

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/replication"
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

	d.note(FaultDatabaseUnreachable, "local database: "+db.err, !db.reachable || !db.fresh(), grace)
	// Never a passing hiccup: confirmed at once. The monitor checks the
	// local database, the applier both ends of each of its sessions.
	wrong := db.wrongDB
	if run := d.currentApplier(); run != nil && wrong == "" {
		if f := run.a.Status().Fault; f != nil && f.Reason == replication.FaultWrongDatabase {
			wrong = f.Detail
		}
	}
	d.note(FaultWrongDatabase, wrong, wrong != "", 0)
	d.note(FaultCannotCommit, "the database answers but cannot commit: "+db.commitErr,
		handshake.WantOf(st).CommitProbe && db.reachable && db.commitErr != "", grace)
	d.checkDisk(cfg.Supervision.DiskPath, db.dataDir, cfg.Supervision.DiskMinFreePercent, grace)
	d.note(FaultPeerUnreachable, fmt.Sprintf("peer %s: %s", cfg.Peer.Name, peer.Error), !peer.Reachable && peer.Error != "", grace)
	d.checkApplier(grace)

	switch w := handshake.WantOf(st); {
	case w.LocalFaults:
		reason := d.standbyFault()
		switch {
		case reason != "" && !w.Faulty:
			_, _ = d.step(handshake.Event{Kind: handshake.EvLocalFault, Reason: reason})
		case reason == "" && w.Faulty:
			_, _ = d.step(handshake.Event{Kind: handshake.EvFaultCleared})
		}
	case w.SelfSwitchover:
		d.considerFailover()
	}
}

// note records a fault and logs when it is confirmed or clears.
func (d *Daemon) note(reason, detail string, present bool, grace time.Duration) {
	if d.faults.observe(reason, detail, present, grace) {
		if present {
			d.logger().Error().Str("fault", reason).Str("detail", detail).Msg("fault")
		} else {
			d.logger().Info().Str("fault", reason).Msg("fault cleared")
		}
	}
}

// checkDisk: free space of the data directory's filesystem.
func (d *Daemon) checkDisk(path, dataDir string, minFree int, grace time.Duration) {
	if path == "" {
		path = dataDir
	}
	if path == "" || minFree <= 0 {
		d.note(FaultDiskFull, "", false, grace)
		return
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		d.note(FaultDiskFull, fmt.Sprintf("cannot read the free space of %s: %v", path, err), true, grace)
		return
	}
	free := float64(fs.Bavail) * 100 / float64(fs.Blocks)
	d.note(FaultDiskFull, fmt.Sprintf("%.1f%% free on %s (supervision.disk_min_free_percent=%d)", free, path, minFree),
		free < float64(minFree), grace)
}

// applierReasons are the applier's fault reasons, as fault names.
var applierReasons = func() map[string]bool {
	m := map[string]bool{FaultApplierNotStreaming: true}
	for _, r := range allApplierFaults {
		m[string(r)] = true
	}
	return m
}()

// checkApplier mirrors the applier's fault (or its not streaming) into the
// fault set.
func (d *Daemon) checkApplier(grace time.Duration) {
	now := map[string]bool{}
	if run := d.currentApplier(); run != nil {
		s := run.a.Status()
		switch {
		case s.Fault != nil && s.Fault.Reason == replication.FaultWrongDatabase:
			// Noted with the monitor's own check (supervise).
		case s.Fault != nil:
			r := string(s.Fault.Reason)
			now[r] = true
			d.note(r, s.Fault.Error(), true, grace)
		case !s.Streaming:
			now[FaultApplierNotStreaming] = true
			d.note(FaultApplierNotStreaming, "the applier is not streaming from the active node", true, grace)
		}
	}
	for r := range applierReasons {
		if !now[r] && r != FaultWrongDatabase {
			d.note(r, "", false, grace)
		}
	}
}

// standbyFault names a confirmed local fault that makes this standby unfit
// to become active, or "". The primary being unreachable is not the
// standby's own fault.
func (d *Daemon) standbyFault() string {
	for _, f := range d.faults.confirmed() {
		switch {
		case f.Reason == FaultDatabaseUnreachable, f.Reason == FaultDiskFull:
			return f.Reason + ": " + f.Detail
		case applierReasons[f.Reason] && f.Reason != string(replication.FaultPrimaryUnreachable):
			return f.Detail
		}
	}
	return ""
}

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
	for _, reason := range []string{FaultServiceCheck, FaultDiskFull, FaultCannotCommit} {
		since, ok := d.faults.has(reason)
		if !ok || time.Since(since) < cfg.Failover.After {
			continue
		}
		if time.Since(d.lastAuto) < cfg.Failover.After || !d.autoRunning.CompareAndSwap(false, true) {
			return
		}
		d.lastAuto = time.Now()
		started := d.goOwned(func() {
			defer d.autoRunning.Store(false)
			d.logger().Warn().Str("fault", reason).Dur("for", time.Since(since)).Msg("fault-initiated switchover: this node is unfit to serve")
			res := d.promote(d.ctx, false, func(ev api.PromoteEvent) {
				if ev.Step != nil {
					d.logger().Info().Str("step_node", ev.Step.Node).Str("step_state", ev.Step.State).Dur("took", ev.Step.Took).Msg("fault-initiated switchover step")
				}
			})
			d.logger().Warn().Str("fault", reason).Str("outcome", res.Outcome).Str("reason", res.Reason).Int64("took_ms", res.TookMS).Msg("fault-initiated switchover ended")
		})
		if !started {
			d.autoRunning.Store(false)
		}
		return
	}
	if since, ok := d.faults.has(FaultDatabaseUnreachable); ok && time.Since(since) >= cfg.Failover.After && time.Since(d.lastAuto) >= cfg.Failover.After {
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
			d.note(FaultServiceCheck, "", false, 0)
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
		d.note(FaultServiceCheck, detail, failures >= cfg.Supervision.ServiceCheckFailures, 0)
	}
}
