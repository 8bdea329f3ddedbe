package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/state"
)

// errWrongPeer: a message from a node that is not the configured peer.
var errWrongPeer = errors.New("message from a node that is not this node's peer")

func (d *Daemon) checkFrom(from string) error {
	if from != d.conf().Peer.Name {
		return fmt.Errorf("%w: %q (peer is %q)", errWrongPeer, from, d.conf().Peer.Name)
	}
	return nil
}

// onRequest handles the active's request (SPEC §3 step 3): refuse with a
// fault, else stay STANDBY until the marker is applied, then agree.
func (d *Daemon) onRequest(ctx context.Context, req api.PeerRequest) (api.PeerAnswer, error) {
	if err := d.checkFrom(req.From); err != nil {
		return api.PeerAnswer{}, err
	}
	unwatch, steps := d.collectSteps()
	defer unwatch()
	answer := func(agree bool, reason string) (api.PeerAnswer, error) {
		d.mu.Lock()
		st, ep := d.rec.State, d.rec.Epoch
		d.mu.Unlock()
		return api.PeerAnswer{Agree: agree, Reason: reason, State: string(st), Epoch: ep, Steps: steps()}, nil
	}
	if reason := d.standbyFault(); reason != "" && handshake.WantOf(d.state()).LocalFaults {
		_, _ = d.step(handshake.Event{Kind: handshake.EvLocalFault, Reason: reason})
	}
	acts, err := d.step(handshake.Event{Kind: handshake.EvRequest, SwitchID: req.SwitchID, Epoch: req.Epoch, FenceLSN: req.FenceLSN})
	if err != nil {
		return api.PeerAnswer{}, err
	}
	if handshake.Reply(acts) == handshake.ActWaitCatchUp {
		ev := d.waitCatchUp(ctx, req.SwitchID)
		if acts, err = d.step(ev); err != nil {
			return answer(false, err.Error())
		}
	}
	switch handshake.Reply(acts) {
	case handshake.ActReplyAgree:
		d.startAgreeTimer(req.SwitchID)
		return answer(true, "")
	case handshake.ActReplyRefuse:
		return answer(false, d.reason())
	}
	return answer(false, fmt.Sprintf("the request was not taken in %s", d.state()))
}

// waitCatchUp waits until the applier has committed the switch marker,
// within switchover.catchup_timeout; a fault or an abort ends it early.
func (d *Daemon) waitCatchUp(ctx context.Context, id string) handshake.Event {
	run := d.currentApplier()
	if run == nil {
		return handshake.Event{Kind: handshake.EvLocalFault, Reason: "applier not running"}
	}
	wctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.CatchupTimeout)
	defer cancel()
	var fault *replication.Fault
	_, err := run.a.WaitFor(wctx, func(s replication.Status) bool {
		if _, ok := s.HasMarker(markerContent(id)); ok {
			return true
		}
		if s.Fault != nil && s.Fault.Reason != replication.FaultPrimaryUnreachable {
			fault = s.Fault
			return true
		}
		// Done when the table would no longer take the answer (the
		// switchover was abandoned, a fault moved the node).
		return !handshake.Accepts(d.node(), handshake.Event{Kind: handshake.EvCaughtUp, SwitchID: id})
	})
	switch {
	case fault != nil:
		return handshake.Event{Kind: handshake.EvLocalFault, Reason: "applier: " + fault.Error()}
	case err != nil:
		st := run.a.Status()
		return handshake.Event{Kind: handshake.EvCatchupTimeout, SwitchID: id,
			Reason: fmt.Sprintf("not caught up within switchover.catchup_timeout=%s (replayed %s, fence %s)", d.conf().Switchover.CatchupTimeout, st.AppliedLSN, d.fenceLSN())}
	}
	return handshake.Event{Kind: handshake.EvCaughtUp, SwitchID: id}
}

// startAgreeTimer gives the switchover up if no SWITCH_OUT comes in time.
func (d *Daemon) startAgreeTimer(id string) {
	d.goOwned(func() {
		t := time.NewTimer(d.switchInBudget() + d.conf().Switchover.StepTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-d.ctx.Done():
			return
		}
		// The table's guard rejects it unless this switchover is still
		// the agreed one.
		acts, err := d.step(handshake.Event{Kind: handshake.EvAgreeTimeout, SwitchID: id, Reason: "no SWITCH_OUT after agreeing"})
		if err == nil {
			d.drive(d.ctx, acts)
		}
	})
}

// onSwitchOut: the active released the VIP; switch in (SPEC §3 step 5).
// The switch-in runs to completion whatever happens to this request.
func (d *Daemon) onSwitchOut(ctx context.Context, req api.PeerSwitchOut) (api.PeerActive, error) {
	if err := d.checkFrom(req.From); err != nil {
		return api.PeerActive{}, err
	}
	unwatch, steps := d.collectSteps()
	defer unwatch()
	acts, err := d.step(handshake.Event{Kind: handshake.EvSwitchOut, SwitchID: req.SwitchID, Epoch: req.Epoch})
	if err != nil {
		return api.PeerActive{}, err
	}
	done := make(chan struct{})
	if !d.goOwned(func() {
		defer close(done)
		d.drive(d.ctx, acts)
	}) {
		// SWITCHING_IN is persisted: the next start finishes it.
		return api.PeerActive{}, errors.New("the daemon is stopping; it switches in when it starts again")
	}
	select {
	case <-done:
	case <-ctx.Done():
		return api.PeerActive{}, ctx.Err()
	}
	d.mu.Lock()
	rec := d.rec
	d.mu.Unlock()
	r := handshake.Resolve(rec.Node, req.SwitchID, req.Epoch)
	if r.Outcome != handshake.OutcomeActive {
		return api.PeerActive{}, fmt.Errorf("switch-in did not finish: %s (%s)", rec.State, rec.Reason)
	}
	return api.PeerActive{SwitchID: r.SwitchID, Outcome: string(r.Outcome), State: string(rec.State), Epoch: r.Epoch,
		ReverseLSN: r.ReverseLSN, Steps: steps()}, nil
}

// actSwitchIn performs step 5. Every part is idempotent: it is retried
// until it succeeds, because a node that began switching in never goes
// back.
func (d *Daemon) actSwitchIn(ctx context.Context) (handshake.Event, bool) {
	id := d.switchID()
	lsn, err := d.switchIn(ctx)
	if err != nil {
		d.logger().Error().Err(err).Msg("switching in failed; retrying")
		select {
		case <-ctx.Done():
			return handshake.Event{}, false
		case <-time.After(time.Second):
		}
		return handshake.Event{Kind: handshake.EvFailed, SwitchID: id, Reason: err.Error()}, true
	}
	return handshake.Event{Kind: handshake.EvSwitchedIn, SwitchID: id, ReverseLSN: lsn.String()}, true
}

func (d *Daemon) switchIn(ctx context.Context) (replication.LSN, error) {
	timed := func(what string, f func(context.Context) error) error {
		start := time.Now()
		sctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
		defer cancel()
		err := f(sctx)
		d.logger().Info().Str("step", what).Dur("took", time.Since(start)).Err(err).Msg("switch-in step")
		return err
	}
	d.stopApplier()
	if err := timed("copy_sequences", func(c context.Context) error {
		seqs, err := d.localDB().CopySequences(c, d.peerDB())
		if err == nil {
			d.logger().Info().Int("sequences", len(seqs)).Msg("sequences carried over from the old active")
		}
		return err
	}); err != nil {
		return 0, fmt.Errorf("copying sequences: %w", err)
	}
	var lsn replication.LSN
	if err := timed("reverse_slot", func(c context.Context) error {
		// The publication must precede the slot (pgoutput reads it as
		// of each decoded change); init created it, this only repairs.
		if err := d.ensurePublication(c); err != nil {
			return err
		}
		var err error
		lsn, err = d.reverseSlot(c)
		return err
	}); err != nil {
		return 0, fmt.Errorf("creating the reverse slot: %w", err)
	}
	if err := timed("writable", func(c context.Context) error {
		if err := d.strictSync(c); err != nil {
			return err
		}
		if err := d.localDB().Unfence(c, true); err != nil {
			return err
		}
		// Sessions opened while this node was a standby start read-only:
		// end them so that they reconnect writable.
		_, err := d.localDB().TerminateClients(c)
		return err
	}); err != nil {
		return 0, fmt.Errorf("making the database writable: %w", err)
	}
	d.refreshDB(ctx)
	if err := timed("bind_vip", d.bindVIP); err != nil {
		return 0, fmt.Errorf("binding the VIP: %w", err)
	}
	if err := timed("start_service", d.startService); err != nil {
		return 0, fmt.Errorf("starting the service: %w", err)
	}
	return lsn, nil
}

// reverseSlot creates (or, for a retried switch-in, finds) the slot the old
// active will follow from. A slot of that name is reused only when the
// record says it was made for this switch-in; any other is a leftover of an
// earlier epoch (an old active killed before it dropped it): its confirmed
// position lies in the past, and streaming from it would send this node's
// own transactions back. It is dropped, the switch-in recorded, and only
// then a slot created — so a crash at any point leaves either no slot or
// one the record vouches for.
func (d *Daemon) reverseSlot(ctx context.Context) (replication.LSN, error) {
	d.slotMu.Lock()
	defer d.slotMu.Unlock()
	slot := d.conf().PeerSlotName()
	d.mu.Lock()
	rec := d.rec
	d.mu.Unlock()
	if rec.ReverseSlotFor != rec.SwitchID || rec.SwitchID == "" {
		info, found, err := d.localDB().LookupSlot(ctx, slot)
		if err != nil {
			return 0, fmt.Errorf("looking up slot %s: %w", slot, err)
		}
		if found {
			d.logger().Warn().Str("slot", slot).Str("confirmed_lsn", info.ConfirmedFlush.String()).
				Str("made_for", rec.ReverseSlotFor).Msg("dropping a slot left over from an earlier switchover before creating the reverse slot")
			if err := d.localDB().DropSlot(ctx, slot); err != nil {
				return 0, fmt.Errorf("dropping the stale slot %s: %w", slot, err)
			}
		}
		if err := d.saveRecord(func(r *state.Record) { r.ReverseSlotFor = rec.SwitchID }); err != nil {
			return 0, err
		}
	}
	return d.localDB().CreateReverseSlot(ctx, slot)
}

// onResolve answers what became of a switchover; a standby that has not
// begun switching in abandons it first.
func (d *Daemon) onResolve(req api.PeerResolve) (api.PeerResolution, error) {
	if err := d.checkFrom(req.From); err != nil {
		return api.PeerResolution{}, err
	}
	for range 2 {
		d.mu.Lock()
		rec := d.rec
		d.mu.Unlock()
		r := handshake.Resolve(nodeOf(rec), req.SwitchID, req.Epoch)
		ans := api.PeerResolution{SwitchID: r.SwitchID, State: string(rec.State), Epoch: r.Epoch, ReverseLSN: r.ReverseLSN}
		switch r.Outcome {
		case handshake.OutcomeActive:
			ans.Outcome = api.OutcomeActive
			return ans, nil
		case handshake.OutcomeWillNotPromote:
			ans.Outcome = api.OutcomeWillNotPromote
			return ans, nil
		case handshake.OutcomeAskAgain:
			ans.Outcome = api.OutcomeSwitchingIn
			return ans, nil
		case handshake.OutcomeAbortFirst:
			// The abandonment is persisted before the answer is read
			// again; its actions (the applier) run on their own.
			if acts, err := d.step(handshake.Event{Kind: handshake.EvAbort, SwitchID: req.SwitchID, Reason: "the active asked to resolve"}); err == nil {
				d.driveOwned(acts)
			}
		}
	}
	return api.PeerResolution{}, fmt.Errorf("the state changed while resolving switchover %s; ask again", req.SwitchID)
}

// onAbort: the active abandoned the switchover.
func (d *Daemon) onAbort(req api.PeerAbort) error {
	if err := d.checkFrom(req.From); err != nil {
		return err
	}
	acts, err := d.step(handshake.Event{Kind: handshake.EvAbort, SwitchID: req.SwitchID, Reason: "the active abandoned the switchover"})
	if err != nil {
		return err
	}
	d.driveOwned(acts)
	return nil
}

// driveOwned performs actions of a persisted step outside the request that
// caused it, on a goroutine the daemon owns: a handler answers from the
// persisted state and never waits on the actions. A daemon that is stopping
// performs them when it starts again (its restart edge).
func (d *Daemon) driveOwned(acts []handshake.Action) {
	if len(acts) == 0 {
		return
	}
	d.goOwned(func() { d.drive(d.ctx, acts) })
}

// collectSteps gathers this node's transitions for a reply to the peer.
func (d *Daemon) collectSteps() (func(), func() []api.Step) {
	var mu = make(chan struct{}, 1)
	var steps []api.Step
	unwatch := d.watchSteps(func(s api.Step) {
		mu <- struct{}{}
		steps = append(steps, s)
		<-mu
	})
	return unwatch, func() []api.Step {
		mu <- struct{}{}
		defer func() { <-mu }()
		return append([]api.Step(nil), steps...)
	}
}

func (d *Daemon) reason() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec.Reason
}

func (d *Daemon) fenceLSN() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec.FenceLSN
}
