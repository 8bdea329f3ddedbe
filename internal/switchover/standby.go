package switchover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/setup"
	"github.com/pgswitch/pgswitch/internal/state"
)

// ErrWrongPeer: a message from a node that is not the configured peer.
var ErrWrongPeer = errors.New("message from a node that is not this node's peer")

func (d *Driver) checkFrom(from string) error {
	if from != d.conf().Peer.Name {
		return fmt.Errorf("%w: %q (peer is %q)", ErrWrongPeer, from, d.conf().Peer.Name)
	}
	return nil
}

// OnRequest handles the active's request (SPEC §3 step 3): refuse with a
// fault, else stay STANDBY until the marker is applied, then agree.
func (d *Driver) OnRequest(ctx context.Context, req api.PeerRequest) (api.PeerAnswer, error) {
	if err := d.checkFrom(req.From); err != nil {
		return api.PeerAnswer{}, err
	}
	unwatch, steps := d.collectSteps()
	defer unwatch()
	answer := func(agree bool, reason string) (api.PeerAnswer, error) {
		rec := d.Record()
		st, ep := rec.State, rec.Epoch
		return api.PeerAnswer{Agree: agree, Reason: reason, State: string(st), Epoch: ep, Steps: steps()}, nil
	}
	if reason := d.env.StandbyFault(); reason != "" && handshake.WantOf(d.State()).LocalFaults {
		_, _ = d.Step(handshake.Event{Kind: handshake.EvLocalFault, Reason: reason})
	}
	acts, err := d.Step(handshake.Event{Kind: handshake.EvRequest, SwitchID: req.SwitchID, Epoch: req.Epoch, FenceLSN: req.FenceLSN})
	if err != nil {
		return api.PeerAnswer{}, err
	}
	if handshake.Reply(acts) == handshake.ActWaitCatchUp {
		ev := d.waitCatchUp(ctx, req.SwitchID)
		if acts, err = d.Step(ev); err != nil {
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
	return answer(false, fmt.Sprintf("the request was not taken in %s", d.State()))
}

// waitCatchUp waits until the applier has committed the switch marker,
// within switchover.catchup_timeout; a fault or an abort ends it early.
func (d *Driver) waitCatchUp(ctx context.Context, id string) handshake.Event {
	a := d.env.Applier()
	if a == nil {
		return handshake.Event{Kind: handshake.EvLocalFault, Reason: "applier not running"}
	}
	wctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.CatchupTimeout)
	defer cancel()
	var fault *replication.Fault
	_, err := a.WaitFor(wctx, func(s replication.Status) bool {
		if _, ok := s.HasMarker(markerContent(id)); ok {
			return true
		}
		if s.Fault != nil && s.Fault.Reason != replication.FaultPrimaryUnreachable {
			fault = s.Fault
			return true
		}
		// Done when the table would no longer take the answer (the
		// switchover was abandoned, a fault moved the node).
		return !handshake.Accepts(d.Node(), handshake.Event{Kind: handshake.EvCaughtUp, SwitchID: id})
	})
	switch {
	case fault != nil:
		return handshake.Event{Kind: handshake.EvLocalFault, Reason: "applier: " + fault.Error()}
	case err != nil:
		st := a.Status()
		return handshake.Event{Kind: handshake.EvCatchupTimeout, SwitchID: id,
			Reason: fmt.Sprintf("not caught up within switchover.catchup_timeout=%s (replayed %s, fence %s)", d.conf().Switchover.CatchupTimeout, st.AppliedLSN, d.fenceLSN())}
	}
	return handshake.Event{Kind: handshake.EvCaughtUp, SwitchID: id}
}

// startAgreeTimer gives the switchover up if no SWITCH_OUT comes in time.
func (d *Driver) startAgreeTimer(id string) {
	d.env.Go(func() {
		t := time.NewTimer(d.switchInBudget() + d.conf().Switchover.StepTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-d.env.Context().Done():
			return
		}
		// The table's guard rejects it unless this switchover is still
		// the agreed one.
		acts, err := d.Step(handshake.Event{Kind: handshake.EvAgreeTimeout, SwitchID: id, Reason: "no SWITCH_OUT after agreeing"})
		if err == nil {
			d.Drive(d.env.Context(), acts)
		}
	})
}

// OnSwitchOut: the active released the VIP; switch in (SPEC §3 step 5).
// The switch-in runs to completion whatever happens to this request.
func (d *Driver) OnSwitchOut(ctx context.Context, req api.PeerSwitchOut) (api.PeerActive, error) {
	if err := d.checkFrom(req.From); err != nil {
		return api.PeerActive{}, err
	}
	unwatch, steps := d.collectSteps()
	defer unwatch()
	acts, err := d.Step(handshake.Event{Kind: handshake.EvSwitchOut, SwitchID: req.SwitchID, Epoch: req.Epoch})
	if err != nil {
		return api.PeerActive{}, err
	}
	done := make(chan struct{})
	if !d.env.Go(func() {
		defer close(done)
		d.Drive(d.env.Context(), acts)
	}) {
		// SWITCHING_IN is persisted: the next start finishes it.
		return api.PeerActive{}, errors.New("the daemon is stopping; it switches in when it starts again")
	}
	select {
	case <-done:
	case <-ctx.Done():
		return api.PeerActive{}, ctx.Err()
	}
	rec := d.Record()
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
func (d *Driver) actSwitchIn(ctx context.Context) (handshake.Event, bool) {
	id := d.switchID()
	lsn, err := d.switchIn(ctx)
	if err != nil {
		d.Logger().Error().Err(err).Msg("switching in failed; retrying")
		select {
		case <-ctx.Done():
			return handshake.Event{}, false
		case <-time.After(time.Second):
		}
		return handshake.Event{Kind: handshake.EvFailed, SwitchID: id, Reason: err.Error()}, true
	}
	return handshake.Event{Kind: handshake.EvSwitchedIn, SwitchID: id, ReverseLSN: lsn.String()}, true
}

func (d *Driver) switchIn(ctx context.Context) (replication.LSN, error) {
	return d.becomeActive(ctx, time.Now(), func(c context.Context) (int, error) {
		seqs, err := d.LocalDB().CopySequences(c, d.PeerDB())
		return len(seqs), err
	})
}

// becomeActive is what a switch-in and a takeover share, in order: the
// applier stopped (what was complete committed), the sequences carried
// (by carry), the leader key this node's in the next epoch (with a
// quorum; a takeover holds it already), the reverse slot, writable, the
// VIP and the service.
func (d *Driver) becomeActive(ctx context.Context, start time.Time, carry func(context.Context) (int, error)) (replication.LSN, error) {
	timed := func(what string, f func(context.Context) error) error {
		t := time.Now()
		sctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
		defer cancel()
		err := f(sctx)
		d.Logger().Info().Str("step", what).Dur("took", time.Since(t)).Dur("since_start", time.Since(start)).Err(err).Msg("switch-in step")
		return err
	}
	d.env.StopApplier()
	if err := timed("carry_sequences", func(c context.Context) error {
		n, err := carry(c)
		if err == nil {
			d.Logger().Info().Int("sequences", n).Msg("sequences carried past the old active's")
		}
		return err
	}); err != nil {
		return 0, fmt.Errorf("carrying sequences: %w", err)
	}
	if d.quorum() && d.State() == handshake.SwitchingIn {
		// SPEC §9 rule 1: the leader key moves before the new active
		// becomes writable.
		if err := timed("leader_key", func(c context.Context) error { return d.env.TakeLeaderKey(c, d.Epoch()) }); err != nil {
			return 0, fmt.Errorf("taking the leader key: %w", err)
		}
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
		if err := d.env.StrictSync(c); err != nil {
			return err
		}
		if err := d.LocalDB().Unfence(c, true); err != nil {
			return err
		}
		// Sessions opened while this node was a standby start read-only:
		// end them so that they reconnect writable.
		_, err := d.LocalDB().TerminateClients(c)
		return err
	}); err != nil {
		return 0, fmt.Errorf("making the database writable: %w", err)
	}
	d.env.RefreshDB()
	if err := timed("bind_vip", d.env.BindVIP); err != nil {
		return 0, fmt.Errorf("binding the VIP: %w", err)
	}
	if err := timed("start_service", d.env.StartService); err != nil {
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
func (d *Driver) reverseSlot(ctx context.Context) (replication.LSN, error) {
	d.slotMu.Lock()
	defer d.slotMu.Unlock()
	slot := d.conf().PeerSlotName()
	rec := d.Record()
	if rec.ReverseSlotFor != rec.SwitchID || rec.SwitchID == "" {
		info, found, err := d.LocalDB().LookupSlot(ctx, slot)
		if err != nil {
			return 0, fmt.Errorf("looking up slot %s: %w", slot, err)
		}
		if found {
			d.Logger().Warn().Str("slot", slot).Str("confirmed_lsn", info.ConfirmedFlush.String()).
				Str("made_for", rec.ReverseSlotFor).Msg("dropping a slot left over from an earlier switchover before creating the reverse slot")
			if err := d.LocalDB().DropSlot(ctx, slot); err != nil {
				return 0, fmt.Errorf("dropping the stale slot %s: %w", slot, err)
			}
		}
		if err := d.SaveRecord(func(r *state.Record) { r.ReverseSlotFor = rec.SwitchID }); err != nil {
			return 0, err
		}
	}
	return d.LocalDB().CreateReverseSlot(ctx, slot)
}

// OnResolve answers what became of a switchover; a standby that has not
// begun switching in abandons it first.
func (d *Driver) OnResolve(req api.PeerResolve) (api.PeerResolution, error) {
	if err := d.checkFrom(req.From); err != nil {
		return api.PeerResolution{}, err
	}
	for range 2 {
		rec := d.Record()
		r := handshake.Resolve(rec.Node, req.SwitchID, req.Epoch)
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
			if acts, err := d.Step(handshake.Event{Kind: handshake.EvAbort, SwitchID: req.SwitchID, Reason: "the active asked to resolve"}); err == nil {
				d.DriveOwned(acts)
			}
		}
	}
	return api.PeerResolution{}, fmt.Errorf("the state changed while resolving switchover %s; ask again", req.SwitchID)
}

// OnAbort: the active abandoned the switchover.
func (d *Driver) OnAbort(req api.PeerAbort) error {
	if err := d.checkFrom(req.From); err != nil {
		return err
	}
	acts, err := d.Step(handshake.Event{Kind: handshake.EvAbort, SwitchID: req.SwitchID, Reason: "the active abandoned the switchover"})
	if err != nil {
		return err
	}
	d.DriveOwned(acts)
	return nil
}

func (d *Driver) reason() string { return d.Record().Reason }

func (d *Driver) fenceLSN() string { return d.Record().FenceLSN }

// ensurePublication repairs the publication (init created it).
func (d *Driver) ensurePublication(ctx context.Context) error {
	conn, err := pgutil.Connect(ctx, d.conf().Postgres.DSN, pgutil.Options{AppName: d.conf().ApplicationName() + "_admin", Writable: true})
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return setup.EnsurePublication(ctx, conn, d.conf().Replication.Publication, d.conf().Replication.Tables)
}

// DropPeerSlot drops the slot the peer followed this node from when it was
// active, if it is still there; it reports whether the slot is gone. A
// standby must not keep it: it retains WAL, and a later switch-in must
// never take it for its reverse slot.
func (d *Driver) DropPeerSlot(ctx context.Context) bool {
	d.slotMu.Lock()
	defer d.slotMu.Unlock()
	if !handshake.WantOf(d.State()).PeerSlotAbsent {
		return false
	}
	slot := d.conf().PeerSlotName()
	qctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
	defer cancel()
	info, found, err := d.LocalDB().LookupSlot(qctx, slot)
	if err == nil && found {
		d.Logger().Warn().Str("slot", slot).Str("confirmed_lsn", info.ConfirmedFlush.String()).
			Msg("a standby still has the slot of its time as active: dropping it")
		err = d.LocalDB().DropSlot(qctx, slot)
	}
	if err != nil {
		d.Logger().Warn().Err(err).Str("slot", slot).Msg("dropping the old slot; will retry")
		return false
	}
	return true
}

// LockSlotsIn orders a drop of one of this database's slots with the
// switch-in that creates the reverse slot: it takes the slot lock and
// reports true when the node is still in st (the caller then drops and
// calls unlock); false, holding nothing, when a step has moved it since.
func (d *Driver) LockSlotsIn(st handshake.State) (unlock func(), ok bool) {
	d.slotMu.Lock()
	if d.State() != st {
		d.slotMu.Unlock()
		return nil, false
	}
	return d.slotMu.Unlock, true
}
