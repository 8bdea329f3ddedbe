package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/quorum"
	"github.com/pgswitch/pgswitch/internal/state"
	"github.com/pgswitch/pgswitch/internal/supervise"
	"github.com/pgswitch/pgswitch/internal/switchover"
)

// leadership is the node's side of the quorum (SPEC §9): the etcd lease and
// the leader key, driven level-triggered by what the state wants of them
// (handshake.Want.Leader) on every tick of leaderLoop. It decides nothing:
// what it learns from etcd goes to the table as an event.
type leadership struct {
	c *quorum.Client

	mu    sync.Mutex
	lease *quorum.Lease // nil when this node holds none
	held  quorum.Held   // the leader key as this node last wrote it
	// The standby's side of failsafe mode: when it last read the quorum,
	// and until when it promised the active not to take over.
	lastRead      time.Time
	promisedUntil time.Time

	// Owned by leaderLoop's goroutine.
	resumingSince time.Time        // when RESUMING was entered
	lastTry       time.Time        // the last regain or claim
	lastRefused   time.Time        // the last refused takeover put to the table
	lastSeqs      map[string]int64 // publishOnce's, one at a time
	lastPublish   time.Time
	publishing    atomic.Bool
	examining     atomic.Bool // an examination of divergence runs
	lastExamined  time.Time
	failsafeUntil time.Time // the active serves on the standby's promise until then
	lastAsk       time.Time // the last request for a promise
}

func (l *leadership) current() (*quorum.Lease, quorum.Held) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lease, l.held
}

func (l *leadership) set(lease *quorum.Lease, held quorum.Held) {
	l.mu.Lock()
	l.lease, l.held = lease, held
	l.mu.Unlock()
}

// leaderTick is how often the loop looks: a twelfth of the TTL (250 ms
// with the default 3 s), so that a lost leader key is seen well within the
// failover target and renewals go out every third of the TTL.
func (d *Daemon) leaderTick() time.Duration { return d.conf().Quorum.LeaseTTL / 12 }

// leaderLoop runs while the daemon does, with a quorum configured.
func (d *Daemon) leaderLoop(ctx context.Context) error {
	if d.lead == nil {
		return nil
	}
	t := time.NewTicker(d.leaderTick())
	defer t.Stop()
	for {
		d.leaderStep(ctx)
		select {
		case <-t.C:
		case <-d.leaderKick:
		case <-ctx.Done():
			return nil
		}
	}
}

// leaderStep does once what the state wants of the leader key.
func (d *Daemon) leaderStep(ctx context.Context) {
	l := d.lead
	st := d.state()
	if st != handshake.Resuming {
		l.resumingSince = time.Time{}
	}
	switch handshake.WantOf(st).Leader {
	case handshake.LeaderHold:
		d.holdLease(ctx, true)
	case handshake.LeaderRegain:
		d.regainKey(ctx, st)
	case handshake.LeaderWatch:
		d.dropLease(ctx)
		d.watchKey(ctx)
	case handshake.LeaderClaim:
		d.claimKey(ctx)
	case handshake.LeaderNone:
		// A switch-in holds the lease it took the key with: renewed,
		// but its loss is the next state's to judge.
		d.holdLease(ctx, false)
	}
}

// holdLease renews the lease every third of the TTL; with fence set, a
// lease not renewed by its self-fence deadline (2/3 of the TTL after the
// last renewal sent, on this node's monotonic clock) is EvLeaseLost. No
// renewal waits past that deadline.
func (d *Daemon) holdLease(ctx context.Context, fence bool) {
	lease, held := d.lead.current()
	if lease == nil {
		if fence && handshake.MayWrite(d.state()) {
			if time.Now().Before(d.lead.failsafeUntil) {
				// Lost while etcd was out of reach, on the
				// standby's promise: bind the key anew.
				d.rebindKey(ctx)
				return
			}
			// No lease of this daemon holds the key (it restarted
			// while taking over, or failsafe ran out): it must not
			// write. Regaining the key finishes what was begun.
			d.leaseLost("no lease of this daemon holds the leader key")
		}
		return
	}
	deadline := lease.SelfFenceDeadline()
	if fence {
		d.askFailsafe(ctx, lease, deadline)
		if d.lead.failsafeUntil.After(deadline) {
			deadline = d.lead.failsafeUntil
		}
	}
	if fence && !time.Now().Before(deadline) {
		d.leaseLost(fmt.Sprintf("the lease was not renewed within 2/3 of quorum.lease_ttl=%s (last renewal sent %s ago)",
			lease.TTL(), time.Since(lease.LastRenewalSent()).Round(time.Millisecond)))
		return
	}
	if time.Since(lease.LastRenewalSent()) >= lease.TTL()/3 {
		// Each try is short, so that a lost request leaves time for
		// another before the deadline.
		try := time.Now().Add(lease.TTL() / 6)
		if deadline.Before(try) {
			try = deadline
		}
		rctx, cancel := context.WithDeadline(ctx, try)
		err := lease.Renew(rctx)
		cancel()
		d.noteRenewal(err)
		switch {
		case errors.Is(err, quorum.ErrLostLease) && time.Now().Before(d.lead.failsafeUntil):
			// The lease expired while etcd was out of reach and the
			// standby promised: bind the key to a new one, in this
			// node's own epoch only.
			d.rebindKey(ctx)
			return
		case errors.Is(err, quorum.ErrLostLease):
			d.leaseLost("etcd no longer knows the lease")
			return
		case err != nil && fence && !time.Now().Before(deadline):
			d.leaseLost(fmt.Sprintf("the lease was not renewed within 2/3 of quorum.lease_ttl=%s: %v", lease.TTL(), err))
			return
		case err != nil:
			d.logger().Warn().Err(err).Time("self_fence_at", deadline).Msg("renewing the leader lease")
		}
	}
	if fence && handshake.WantOf(d.state()).Clients == handshake.ClientsWritable {
		d.publishSequences(ctx, held)
	}
}

// leaseLost puts the loss to the table at once, before anything that could
// wait on etcd: the self-fence must be done within the third of the TTL
// left before etcd can expire the lease. Whether a later epoch was taken
// meanwhile is for the regain that follows to find out.
func (d *Daemon) leaseLost(why string) {
	d.lead.set(nil, quorum.Held{})
	d.logger().Error().Str("why", why).Msg("the leader lease is lost")
	d.stepOwned(handshake.Event{Kind: handshake.EvLeaseLost, Reason: why})
}

// epochEvent is EvNewLeader when the epoch key names another node in a
// later epoch than this node's, and the zero event otherwise (or when it
// cannot be read).
func (d *Daemon) epochEvent(ctx context.Context) handshake.Event {
	ep, err := d.lead.c.ReadEpoch(ctx)
	if err != nil || ep.Revision == 0 || uint64(ep.Epoch) <= d.epoch() || ep.Node == d.conf().Node.Name {
		return handshake.Event{}
	}
	return handshake.Event{Kind: handshake.EvNewLeader, Epoch: uint64(ep.Epoch),
		Reason: fmt.Sprintf("%s leads epoch %d", ep.Node, ep.Epoch)}
}

// regainKey (RESUMING, SELF_FENCED) tries every third of the TTL to have
// the leader key at this node's own epoch again, never a later one:
// EvLeaseHeld, or EvNewLeader when the pair moved on. RESUMING that cannot
// confirm the key within 2/3 of the TTL is EvLeaseLost. A pair that never
// led in etcd (no epoch key) is bootstrapped by its active.
func (d *Daemon) regainKey(ctx context.Context, st handshake.State) {
	l := d.lead
	ttl := d.conf().Quorum.LeaseTTL
	if st == handshake.Resuming {
		if l.resumingSince.IsZero() {
			l.resumingSince = time.Now()
		}
		if time.Since(l.resumingSince) > ttl*2/3 {
			l.resumingSince = time.Now()
			d.stepOwned(handshake.Event{Kind: handshake.EvLeaseLost,
				Reason: fmt.Sprintf("the leader key could not be confirmed within 2/3 of quorum.lease_ttl=%s", ttl)})
			return
		}
	}
	if time.Since(l.lastTry) < ttl/3 {
		return
	}
	l.lastTry = time.Now()
	lease, _ := l.current()
	if lease == nil {
		var err error
		if lease, err = l.c.Grant(ctx); err != nil {
			d.logger().Warn().Err(err).Msg("regaining the leader key: granting a lease")
			return
		}
	}
	node, epoch := d.conf().Node.Name, d.epoch()
	ep, err := l.c.ReadEpoch(ctx)
	var held quorum.Held
	if err == nil {
		if ep.Revision == 0 {
			held, err = l.c.TakeLeader(ctx, lease, node, int64(epoch))
		} else {
			held, err = l.c.Regain(ctx, lease, node, int64(epoch))
		}
	}
	switch {
	case err == nil:
		l.set(lease, held)
		d.logger().Info().Uint64("epoch", epoch).Int64("revision", held.Revision).Msg("the leader key is this node's")
		d.stepOwned(handshake.Event{Kind: handshake.EvLeaseHeld, Epoch: epoch})
	case errors.Is(err, quorum.ErrEpochMoved), errors.Is(err, quorum.ErrLeaderExists):
		_ = lease.Revoke(ctx)
		l.set(nil, quorum.Held{})
		if ev := d.epochEvent(ctx); ev.Kind != "" {
			d.stepOwned(ev)
			d.considerDivergence(ev.Epoch)
			return
		}
		d.logger().Warn().Err(err).Msg("regaining the leader key")
	default:
		l.set(lease, quorum.Held{})
		d.logger().Warn().Err(err).Msg("regaining the leader key")
	}
}

// rebindKey binds the leader key this node holds in its epoch to a new
// lease (its lease expired while etcd was out of reach, on the standby's
// failsafe promise); a key the pair has moved on from is a lost lease.
func (d *Daemon) rebindKey(ctx context.Context) {
	l := d.lead
	if time.Since(l.lastTry) < d.conf().Quorum.LeaseTTL/6 {
		return
	}
	l.lastTry = time.Now()
	lease, err := l.c.Grant(ctx)
	if err != nil {
		d.logger().Warn().Err(err).Msg("rebinding the leader key: granting a lease")
		return
	}
	held, err := l.c.Regain(ctx, lease, d.conf().Node.Name, int64(d.epoch()))
	switch {
	case err == nil:
		l.set(lease, held)
		d.logger().Info().Int64("epoch", held.Epoch).Msg("the leader key is bound to this daemon's lease again")
	case errors.Is(err, quorum.ErrEpochMoved), errors.Is(err, quorum.ErrLeaderExists):
		_ = lease.Revoke(ctx)
		d.leaseLost("the leader key is no longer this node's: " + err.Error())
	default:
		_ = lease.Revoke(ctx)
		d.logger().Warn().Err(err).Msg("rebinding the leader key")
	}
}

// watchKey (STANDBY, FAULT, AGREE_SWITCH) reads the leader key on every
// tick; when it is gone, the takeover is put to the table with the proofs
// (EvLeaderGone), which the table takes only from a STANDBY with every
// proof holding. A refused takeover is the fault failover_refused.
func (d *Daemon) watchKey(ctx context.Context) {
	l := d.lead
	st, err := l.c.ReadLeader(ctx)
	d.note(supervise.QuorumUnreachable, fmt.Sprintf("etcd %v: %v", d.conf().Quorum.Endpoints, err), err != nil, d.conf().Supervision.FaultGrace)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.lastRead = time.Now()
	promised := l.lastRead.Before(l.promisedUntil)
	l.mu.Unlock()
	if st.Present {
		d.note(supervise.FailoverRefused, "", false, 0)
		return
	}
	if promised || time.Now().Before(d.keepPromiseUntil) {
		// The active serves on this node's promise (failsafe): its
		// lease expired while etcd was out of reach of both. A daemon
		// restarted within a promise an earlier process gave keeps it.
		return
	}
	ep, err := l.c.ReadEpoch(ctx)
	if err != nil || ep.Revision == 0 {
		// No node ever led the pair in etcd: nothing was lost.
		return
	}
	own := d.epoch()
	ev := handshake.Event{Kind: handshake.EvLeaderGone, Epoch: uint64(ep.Epoch), Reason: fmt.Sprintf("the leader key of %s (epoch %d) is gone", ep.Node, ep.Epoch)}
	if ep.Node == d.conf().Node.Name && uint64(ep.Epoch) == own+1 {
		// This node's own claim, given up (its answer lost, the daemon
		// restarted): the key was lost in its epoch as far as it is
		// concerned, and claiming again finishes that claim.
		ev.Epoch = own
	}
	ev.Unproven = d.takeoverProof(ctx, int64(ev.Epoch))
	if ev.Unproven != "" && time.Since(l.lastRefused) < 5*time.Second {
		return
	}
	ev.SwitchID = "takeover-" + switchover.NewSwitchID()
	acts, err := d.drv.Step(ev)
	if err != nil {
		l.lastRefused = time.Now()
		d.note(supervise.FailoverRefused, "no takeover: "+err.Error(), true, 0)
		return
	}
	d.note(supervise.FailoverRefused, "", false, 0)
	d.logger().Warn().Str("reason", ev.Reason).Msg("the active's lease expired: taking over")
	d.drv.DriveOwned(acts)
}

// takeoverProof names the first proof that fails (SPEC §9 rule 3), or "".
func (d *Daemon) takeoverProof(ctx context.Context, lostIn int64) string {
	cfg := d.conf()
	if !cfg.Failover.Unplanned {
		return "failover.unplanned is off"
	}
	if f := d.standbyFault(); f != "" {
		return "this standby has a fault: " + f
	}
	if cfg.Replication.Synchronous {
		k, err := d.lead.c.ReadSyncKey(ctx)
		switch {
		case err != nil:
			return "cannot read the sync key: " + err.Error()
		case k.Epoch != lostIn || !slices.Contains(k.Standbys, cfg.Node.Name):
			return fmt.Sprintf("synchronous mode: the sync key does not name %s in epoch %d (it names %v in epoch %d)", cfg.Node.Name, lostIn, k.Standbys, k.Epoch)
		}
		return ""
	}
	s, ok := d.applierStatus()
	switch {
	case !ok:
		return "the applier is not running"
	case s.PrimaryLSN == 0:
		return "this standby never learnt the active's WAL position"
	case s.LagBytes > cfg.Failover.MaxLagBytes:
		return fmt.Sprintf("lag of %d bytes when it last heard the active, more than failover.max_lag_bytes=%d", s.LagBytes, cfg.Failover.MaxLagBytes)
	}
	return ""
}

// claimKey (CLAIMING) claims the leader key at epoch+1: EvLeaderTaken, or
// EvClaimFailed when another node holds it or the pair moved on; an etcd
// that does not answer is tried again (the claim is idempotent).
func (d *Daemon) claimKey(ctx context.Context) {
	l := d.lead
	if time.Since(l.lastTry) < d.conf().Quorum.LeaseTTL/6 {
		return
	}
	l.lastTry = time.Now()
	rec := d.drv.Record()
	lease, _ := l.current()
	if lease == nil {
		var err error
		if lease, err = l.c.Grant(ctx); err != nil {
			d.logger().Warn().Err(err).Msg("claiming the leader key: granting a lease")
			return
		}
		l.set(lease, quorum.Held{})
	}
	ep, err := l.c.ReadEpoch(ctx)
	var held quorum.Held
	if err == nil {
		held, err = l.c.Claim(ctx, lease, d.conf().Node.Name, int64(rec.Epoch), ep)
	}
	switch {
	case err == nil:
		l.set(lease, held)
		d.logger().Warn().Int64("epoch", held.Epoch).Int64("revision", held.Revision).Msg("took the leader key")
		d.stepOwned(handshake.Event{Kind: handshake.EvLeaderTaken, SwitchID: rec.SwitchID, Epoch: uint64(held.Epoch)})
	case errors.Is(err, quorum.ErrEpochMoved), errors.Is(err, quorum.ErrLeaderExists):
		_ = lease.Revoke(ctx)
		l.set(nil, quorum.Held{})
		d.stepOwned(handshake.Event{Kind: handshake.EvClaimFailed, SwitchID: rec.SwitchID, Reason: err.Error()})
	default:
		d.logger().Warn().Err(err).Msg("claiming the leader key; trying again")
	}
}

// dropLease gives up a lease this node no longer needs (a standby's): its
// keys, if any are still bound to it, go with it.
func (d *Daemon) dropLease(ctx context.Context) {
	lease, _ := d.lead.current()
	if lease == nil {
		return
	}
	d.lead.set(nil, quorum.Held{})
	if err := lease.Revoke(ctx); err != nil {
		d.logger().Debug().Err(err).Msg("revoking a lease no longer needed")
	}
}

// stepOwned feeds an event learnt from the quorum to the table and performs
// its actions on an owned goroutine, so that the loop goes on renewing
// meanwhile (a takeover's actions run under the lease it took).
func (d *Daemon) stepOwned(ev handshake.Event) {
	acts, err := d.drv.Step(ev)
	if err != nil {
		return
	}
	d.drv.DriveOwned(acts)
}

// takeLeaderKey is the planned switch-in's change of leader (SPEC §9 rule
// 1): the key moves from the peer, which holds it in epoch from, to this
// node in from+1 — one transaction comparing the peer's value and
// revision; when the peer's lease has expired meanwhile, a claim from the
// epoch key. The lease it is bound to is this node's from then on.
func (d *Daemon) takeLeaderKey(ctx context.Context, from uint64) error {
	l := d.lead
	if l == nil {
		return nil
	}
	lease, _ := l.current()
	if lease == nil {
		var err error
		if lease, err = l.c.Grant(ctx); err != nil {
			return err
		}
	}
	node := d.conf().Node.Name
	st, err := l.c.ReadLeader(ctx)
	if err != nil {
		return err
	}
	var held quorum.Held
	switch {
	case st.Present && st.Node == node && uint64(st.Epoch) == from+1:
		// Taken by an earlier try of this switch-in: rebind it.
		held, err = l.c.Regain(ctx, lease, node, int64(from+1))
	case st.Present:
		if uint64(st.Epoch) != from || st.Node != d.conf().Peer.Name {
			return fmt.Errorf("the leader key names %s in epoch %d, not %s in %d", st.Node, st.Epoch, d.conf().Peer.Name, from)
		}
		held, err = l.c.Handover(ctx, lease, quorum.Held{Leader: st.Leader, Revision: st.Revision}, node)
	default:
		var ep quorum.Epoch
		if ep, err = l.c.ReadEpoch(ctx); err == nil {
			held, err = l.c.Claim(ctx, lease, node, int64(from), ep)
		}
	}
	if err != nil {
		return err
	}
	l.set(lease, held)
	d.logger().Info().Int64("epoch", held.Epoch).Int64("revision", held.Revision).Msg("the leader key moved to this node")
	return nil
}

// noteRenewal counts a renewal for the metrics.
func (d *Daemon) noteRenewal(err error) {
	if d.renewals == nil {
		return
	}
	if err != nil {
		d.renewals.WithLabelValues("failed").Inc()
	} else {
		d.renewals.WithLabelValues("ok").Inc()
	}
}

// publishEvery is how often the active publishes its sequence positions.
const publishEvery = time.Second

// publishSequences publishes, every second, each sequence's last value
// (0 for one not used yet) plus a margin for what the active may hand out
// before a takeover reads it: ten times what it handed out over the last
// interval (the interval, the lease and the takeover with room to spare),
// and at least 10,000. A new active that cannot ask the old one sets its
// sequences to at least these, and past every value in the columns they
// feed (SPEC §9 rule 3).
func (d *Daemon) publishSequences(ctx context.Context, held quorum.Held) {
	l := d.lead
	if held.Revision == 0 || time.Since(l.lastPublish) < publishEvery || !l.publishing.CompareAndSwap(false, true) {
		return
	}
	l.lastPublish = time.Now()
	// On its own goroutine: an etcd that hangs must not hold the loop
	// that renews the lease and fences in time.
	if !d.goOwned(func() {
		defer l.publishing.Store(false)
		d.publishOnce(ctx, held)
	}) {
		l.publishing.Store(false)
	}
}

func (d *Daemon) publishOnce(ctx context.Context, held quorum.Held) {
	l := d.lead
	qctx, cancel := context.WithTimeout(ctx, d.conf().Quorum.LeaseTTL/3)
	defer cancel()
	now, err := d.localDB().Sequences(qctx, true)
	if err != nil {
		d.logger().Warn().Err(err).Msg("reading sequence positions to publish")
		return
	}
	out := make(map[string]int64, len(now))
	for name, v := range now {
		rate := v - l.lastSeqs[name]
		if _, seen := l.lastSeqs[name]; !seen || rate < 0 {
			rate = 0
		}
		out[name] = v + max(10000, 10*rate)
	}
	l.lastSeqs = now
	if err := l.c.PublishSeq(qctx, held, out); err != nil {
		d.logger().Warn().Err(err).Msg("publishing sequence positions")
	}
}

// forceTakeover is pgswitch failover --accept-data-loss (SPEC §9 rule 4):
// the standby takes over as in rule 3 without the proof of catch-up. It
// refuses, changing nothing, while the old active's daemon answers or (with
// a quorum) its lease holds the leader key; without a quorum it is the
// only way to a takeover, and the epoch moves on without one.
func (d *Daemon) forceTakeover(ctx context.Context, req api.FailoverRequest) (api.PromoteResult, error) {
	start := time.Now()
	cfg := d.conf()
	res := func(outcome, reason string, code int) (api.PromoteResult, error) {
		r := d.drv.Record()
		return api.PromoteResult{Outcome: outcome, Reason: reason, ExitCode: code, From: cfg.Peer.Name, To: cfg.Node.Name,
			SwitchID: r.SwitchID, Epoch: r.Epoch, TookMS: time.Since(start).Milliseconds()}, nil
	}
	if !req.AcceptDataLoss {
		return res(api.PromoteRefused, "a takeover without the proof of catch-up may lose acknowledged commits: pass --accept-data-loss", 2)
	}
	rec := d.drv.Record()
	if !handshake.Takes(rec.State, handshake.EvForceTakeover) {
		return res(api.PromoteRefused, fmt.Sprintf("%s is %s, not STANDBY", cfg.Node.Name, rec.State), 1)
	}
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	st, err := d.peer.Status(qctx)
	cancel()
	if err == nil {
		return res(api.PromoteRefused, fmt.Sprintf("%s's daemon answers (%s in epoch %d): it is not lost; use pgswitch promote", cfg.Peer.Name, st.State, st.Epoch), 1)
	}
	if d.lead != nil {
		l, err := d.lead.c.ReadLeader(ctx)
		switch {
		case err != nil:
			return res(api.PromoteRefused, "cannot read the quorum: "+err.Error(), 1)
		case l.Present:
			return res(api.PromoteRefused, fmt.Sprintf("the leader key is held by %s in epoch %d (lease %s left)", l.Node, l.Epoch, l.TTLLeft), 1)
		}
	}
	id := "failover-" + switchover.NewSwitchID()
	acts, err := d.drv.Step(handshake.Event{Kind: handshake.EvForceTakeover, SwitchID: id, Epoch: rec.Epoch,
		Reason: "pgswitch failover --accept-data-loss"})
	if err != nil {
		return res(api.PromoteRefused, err.Error(), 1)
	}
	d.logger().Warn().Str("peer", cfg.Peer.Name).Msg("forced takeover: the operator accepts the loss of commits this node never received")
	if d.lead == nil {
		// Nothing to claim: the epoch moves on by the operator's word.
		if acts, err = d.drv.Step(handshake.Event{Kind: handshake.EvLeaderTaken, SwitchID: id, Epoch: rec.Epoch + 1}); err != nil {
			return res(api.PromoteAborted, err.Error(), 3)
		}
	}
	d.drv.DriveOwned(acts)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		r := d.drv.Record()
		switch {
		case r.SwitchID != id:
			return res(api.PromoteAborted, "another step replaced the takeover: "+r.Reason, 3)
		case r.State == handshake.Active:
			return res(api.PromoteDone, "", 0)
		case r.State == handshake.Standby:
			return res(api.PromoteRefused, r.Reason, 1)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return res(api.PromoteUnknown, fmt.Sprintf("still %s: %s", r.State, r.Reason), 3)
		}
	}
}

// askFailsafe (the active): once the renewal due a third of the TTL after
// the last successful one has failed, and then every sixth of it, ask the standby to promise not to take over
// (SPEC §9 rule 2, failsafe). The standby promises only while it cannot
// read the quorum either, for one TTL on its clock from when it answers;
// the active serves on it until 2/3 of the TTL after it sent the request,
// on its own clock — before the promise ends even with either clock 15%
// off. A standby that reads the quorum refuses: then the active fences
// itself in time, and the standby may take over once the lease expires.
func (d *Daemon) askFailsafe(ctx context.Context, lease *quorum.Lease, deadline time.Time) {
	l := d.lead
	ttl := lease.TTL()
	if time.Since(lease.LastRenewalSent()) < ttl/3+ttl/12 || time.Since(l.lastAsk) < ttl/6 {
		// Renewals go out every third of the TTL: only one a tick
		// overdue (its try failed) means etcd is not answering.
		return
	}
	l.lastAsk = time.Now()
	sent := time.Now()
	if l.failsafeUntil.After(deadline) {
		deadline = l.failsafeUntil
	}
	// Never past the moment this node must have fenced.
	until := sent.Add(ttl / 6)
	if deadline.Before(until) {
		until = deadline
	}
	actx, cancel := context.WithDeadline(ctx, until)
	ans, err := d.peer.Failsafe(actx, api.PeerFailsafe{From: d.conf().Node.Name, Epoch: d.epoch()})
	cancel()
	switch {
	case err != nil:
		d.logger().Warn().Err(err).Msg("failsafe: the standby does not answer; fencing at the lease's deadline")
	case !ans.Promised:
		d.logger().Warn().Str("reason", ans.Reason).Msg("failsafe: the standby did not promise; fencing at the lease's deadline")
	default:
		serve := sent.Add(min(ttl, time.Duration(ans.ForMS)*time.Millisecond) * 2 / 3)
		if serve.After(l.failsafeUntil) {
			l.failsafeUntil = serve
		}
		d.logger().Warn().Dur("for", time.Until(serve).Round(time.Millisecond)).
			Msg("failsafe: etcd is out of reach of both nodes and the standby promised not to take over: serving on")
	}
}

// onFailsafe (the standby) promises not to take over for one TTL when this
// node cannot read the quorum either and follows the asker in its epoch.
func (d *Daemon) onFailsafe(_ context.Context, req api.PeerFailsafe) (api.FailsafePromise, error) {
	if req.From != d.conf().Peer.Name {
		return api.FailsafePromise{}, fmt.Errorf("%w: %q (peer is %q)", switchover.ErrWrongPeer, req.From, d.conf().Peer.Name)
	}
	l := d.lead
	if l == nil {
		return api.FailsafePromise{Reason: "this node runs without a quorum"}, nil
	}
	rec := d.drv.Record()
	if handshake.WantOf(rec.State).Leader != handshake.LeaderWatch || rec.Epoch != req.Epoch {
		return api.FailsafePromise{Reason: fmt.Sprintf("%s is %s in epoch %d", d.conf().Node.Name, rec.State, rec.Epoch)}, nil
	}
	ttl := d.conf().Quorum.LeaseTTL
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.lastRead) < ttl/6 {
		return api.FailsafePromise{Reason: fmt.Sprintf("%s reads the quorum", d.conf().Node.Name)}, nil
	}
	// Recorded before it is given, on the boot clock: a restarted daemon
	// keeps it (keptPromise).
	if boot, at, err := bootClock(); err == nil {
		err = d.drv.SaveRecord(func(r *state.Record) { r.Promise = &state.Promise{Boot: boot, At: at} })
		if err != nil {
			return api.FailsafePromise{Reason: "cannot record the promise: " + err.Error()}, nil
		}
	} else {
		return api.FailsafePromise{Reason: "cannot read the boot clock: " + err.Error()}, nil
	}
	if until := time.Now().Add(ttl); until.After(l.promisedUntil) {
		l.promisedUntil = until
	}
	d.logger().Warn().Str("active", req.From).Dur("for", ttl).Msg("failsafe: etcd is out of reach; promised the active not to take over")
	return api.FailsafePromise{Promised: true, ForMS: ttl.Milliseconds()}, nil
}

// bootClock is this boot's id and the time since it (CLOCK_BOOTTIME, which
// counts on across process restarts and suspends).
func bootClock() (string, time.Duration, error) {
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", 0, err
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return "", 0, err
	}
	return strings.TrimSpace(string(id)), time.Duration(ts.Nano()), nil
}

// keptPromise is until when a daemon starting from rec must keep a
// promise an earlier process gave: the rest of its TTL in the same boot, a
// whole TTL after a reboot (the boot clock started again), none without
// one.
func keptPromise(rec state.Record, ttl time.Duration, now time.Time) time.Time {
	if rec.Promise == nil {
		return time.Time{}
	}
	boot, at, err := bootClock()
	if err != nil || boot != rec.Promise.Boot {
		return now.Add(ttl)
	}
	if left := ttl - (at - rec.Promise.At); left > 0 {
		return now.Add(left)
	}
	return time.Time{}
}
