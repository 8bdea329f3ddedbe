package switchover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/schema"
)

// Promote runs a planned switchover from this (active) node, reporting
// every step through emit. It returns the result; its exit code is the
// SPEC's.
func (d *Driver) Promote(ctx context.Context, dryRun bool, emit func(api.PromoteEvent)) api.PromoteResult {
	start := time.Now()
	res := func(outcome, reason string) api.PromoteResult {
		r := api.PromoteResult{Outcome: outcome, Reason: reason, From: d.conf().Node.Name, To: d.conf().Peer.Name,
			TookMS: time.Since(start).Milliseconds(), Epoch: d.Epoch()}
		switch outcome {
		case api.PromoteDone, api.PromoteDryRun:
			r.ExitCode = 0
		case api.PromoteFenced:
			r.ExitCode = 3
		default:
			r.ExitCode = 1
		}
		if ls := d.LastSwitchover(); ls != nil && outcome != api.PromoteDryRun && outcome != api.PromoteRefused {
			r.SwitchID, r.Steps = ls.ID, ls.Steps
		}
		return r
	}
	if err := d.preconditions(ctx); err != nil {
		return res(api.PromoteRefused, err.Error())
	}
	emit(api.PromoteEvent{Message: fmt.Sprintf("preconditions hold: %s is a healthy, caught-up STANDBY", d.conf().Peer.Name)})
	if dryRun {
		return res(api.PromoteDryRun, "")
	}

	unwatch := d.watchSteps(func(s api.Step) { emit(api.PromoteEvent{Step: &s}) })
	defer unwatch()
	id := NewSwitchID()
	acts, err := d.Step(handshake.Event{Kind: handshake.EvPromote, SwitchID: id})
	if err != nil {
		return res(api.PromoteRefused, err.Error())
	}
	// The switchover must finish even if the caller goes away.
	d.Drive(context.WithoutCancel(ctx), acts)

	rec := d.Record()
	switch r, ok := handshake.ResultOf(rec.Node, id); {
	case !ok:
		return res(api.PromoteFenced, fmt.Sprintf("switchover ended in %s: %s", rec.State, rec.Reason))
	case r == handshake.ResultDone:
		return res(api.PromoteDone, "")
	case r == handshake.ResultFenced:
		return res(api.PromoteFenced, fmt.Sprintf("%s is FENCED: %s; it stays fenced until %s confirms its role (pgswitch status)", d.conf().Node.Name, rec.Reason, d.conf().Peer.Name))
	default:
		return res(api.PromoteAborted, rec.Reason)
	}
}

// preconditions (SPEC §3 step 1): checked before anything changes.
func (d *Driver) preconditions(ctx context.Context) error {
	rec := d.Record()
	if !handshake.Takes(rec.State, handshake.EvPromote) {
		return fmt.Errorf("%s is %s, not ACTIVE", d.conf().Node.Name, rec.State)
	}
	if ok, why := d.env.Writable(); !ok {
		return fmt.Errorf("%s's database is not writable (%s)", d.conf().Node.Name, why)
	}
	qctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
	defer cancel()
	peer, err := d.peer.Status(qctx)
	if err != nil {
		return fmt.Errorf("peer %s unreachable or not authenticated: %w", d.conf().Peer.Name, err)
	}
	var problems []string
	if peer.Node != d.conf().Peer.Name {
		problems = append(problems, fmt.Sprintf("the daemon at %s is %q, not %q", d.conf().Peer.APIURL, peer.Node, d.conf().Peer.Name))
	}
	if !handshake.MayAgree(handshake.State(peer.State)) {
		problems = append(problems, fmt.Sprintf("%s is %s, not STANDBY", peer.Node, peer.State))
	}
	if peer.Epoch != rec.Epoch {
		problems = append(problems, fmt.Sprintf("%s is in epoch %d, this node in %d", peer.Node, peer.Epoch, rec.Epoch))
	}
	if !peer.Database.Reachable {
		problems = append(problems, fmt.Sprintf("%s's database is unreachable: %s", peer.Node, peer.Database.Error))
	}
	for _, f := range peer.Faults {
		problems = append(problems, fmt.Sprintf("%s has a fault: %s (%s)", peer.Node, f.Reason, f.Detail))
	}
	if r := peer.Replication; r == nil || !r.Streaming {
		problems = append(problems, fmt.Sprintf("%s's applier is not streaming", peer.Node))
	} else if r.LagBytes > d.conf().Switchover.MaxLagBytes {
		problems = append(problems, fmt.Sprintf("%s lags %d bytes, more than switchover.max_lag_bytes=%d", peer.Node, r.LagBytes, d.conf().Switchover.MaxLagBytes))
	}
	if len(problems) == 0 {
		if drift, err := d.schemaDrift(qctx); err != nil {
			problems = append(problems, err.Error())
		} else {
			problems = append(problems, drift...)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// schemaDrift compares the replicated tables of both databases.
func (d *Driver) schemaDrift(ctx context.Context) ([]string, error) {
	local, err := pgutil.Connect(ctx, d.conf().Postgres.DSN, pgutil.Options{AppName: d.conf().ApplicationName() + "_check"})
	if err != nil {
		return nil, fmt.Errorf("comparing schemas: %w", err)
	}
	defer local.Close(context.Background())
	peer, err := pgutil.Connect(ctx, d.conf().Postgres.PeerDSN, pgutil.Options{AppName: d.conf().ApplicationName() + "_check"})
	if err != nil {
		return nil, fmt.Errorf("comparing schemas: %s's database: %w", d.conf().Peer.Name, err)
	}
	defer peer.Close(context.Background())
	rec := d.Record()
	localID, peerID := rec.LocalSystemID, rec.PeerSystemID
	if _, err := pgutil.VerifySystemID(ctx, local, d.conf().Postgres.DSN, "local", localID); err != nil {
		return nil, err
	}
	if _, err := pgutil.VerifySystemID(ctx, peer, d.conf().Postgres.PeerDSN, "peer", peerID); err != nil {
		return nil, err
	}
	tables, err := schema.Replicated(ctx, local, d.conf().Replication.Publication, d.conf().Replication.Tables)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range tables {
		a, _, err := schema.Load(ctx, local, t)
		if err != nil {
			return nil, err
		}
		b, ok, err := schema.Load(ctx, peer, t)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, fmt.Sprintf("schema drift: %s does not exist on %s", t, d.conf().Peer.Name))
			continue
		}
		for _, diff := range schema.Diff(a, b, d.conf().Node.Name, d.conf().Peer.Name) {
			out = append(out, "schema drift: "+diff)
		}
	}
	return out, nil
}

// actFence: fence the database, end client sessions, write the marker.
func (d *Driver) actFence(ctx context.Context) (handshake.Event, bool) {
	id := d.switchID()
	ctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
	defer cancel()
	rep, err := d.LocalDB().Fence(ctx)
	if err != nil {
		return handshake.Event{Kind: handshake.EvFailed, SwitchID: id, Reason: "fence: " + err.Error()}, true
	}
	markerStart := time.Now()
	lsn, err := d.LocalDB().WriteMarker(ctx, markerContent(id))
	if err != nil {
		return handshake.Event{Kind: handshake.EvFailed, SwitchID: id, Reason: "marker: " + err.Error()}, true
	}
	d.Logger().Info().Int("terminated", rep.Terminated).Int("rounds", rep.Rounds).
		Dur("connect", rep.Connect).Dur("fence_sql", rep.Statement).Dur("fence", rep.Took).
		Dur("marker", time.Since(markerStart)).Str("lsn", lsn.String()).Msg("fenced; switch marker written")
	return handshake.Event{Kind: handshake.EvFenced, SwitchID: id, FenceLSN: lsn.String()}, true
}

func markerContent(switchID string) string { return "fence:" + switchID }

// actSendRequest: ask the standby and wait for its answer.
func (d *Driver) actSendRequest(ctx context.Context) (handshake.Event, bool) {
	rec := d.Record()
	ctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.CatchupTimeout+d.conf().Switchover.StepTimeout)
	defer cancel()
	ans, err := d.peer.Request(ctx, api.PeerRequest{From: d.conf().Node.Name, SwitchID: rec.SwitchID, Epoch: rec.Epoch, FenceLSN: rec.FenceLSN})
	d.emitPeerSteps(ans.Steps)
	switch {
	case err != nil:
		return handshake.Event{Kind: handshake.EvFailed, SwitchID: rec.SwitchID, Reason: fmt.Sprintf("asking %s: %v", d.conf().Peer.Name, err)}, true
	case !ans.Agree:
		return handshake.Event{Kind: handshake.EvPeerRefused, SwitchID: rec.SwitchID, Reason: fmt.Sprintf("%s refused: %s", d.conf().Peer.Name, ans.Reason)}, true
	}
	return handshake.Event{Kind: handshake.EvPeerAgreed, SwitchID: rec.SwitchID}, true
}

// actSendAbort tells the peer, best effort.
func (d *Driver) actSendAbort(ctx context.Context) {
	rec := d.Record()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := d.peer.Abort(ctx, api.PeerAbort{From: d.conf().Node.Name, SwitchID: rec.SwitchID, Epoch: rec.Epoch}); err != nil {
		d.Logger().Warn().Err(err).Msg("could not tell the peer that the switchover is abandoned")
	}
}

// actUnfence makes the database writable again (or read-only for a
// standby), retrying briefly; the reconcile loop keeps trying after that.
func (d *Driver) Unfence(ctx context.Context, writable bool) {
	var err error
	for i := 0; i < 5; i++ {
		uctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
		err = d.LocalDB().Unfence(uctx, writable)
		cancel()
		if err == nil {
			d.env.RefreshDB()
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.Logger().Error().Err(err).Bool("writable", writable).Msg("could not lift the fence; will keep trying")
}

// actSwitchOut: stop the service program and release the VIP.
func (d *Driver) actSwitchOut(ctx context.Context) (handshake.Event, bool) {
	id := d.switchID()
	// Anyone who slipped in since the fence is ended now.
	tctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
	if _, err := d.LocalDB().TerminateClients(tctx); err != nil {
		d.Logger().Warn().Err(err).Msg("ending client sessions before switching out")
	}
	cancel()
	if err := d.env.StopService(ctx); err != nil {
		return handshake.Event{Kind: handshake.EvFailed, SwitchID: id, Reason: "service stop: " + err.Error()}, true
	}
	if err := d.env.ReleaseVIP(ctx); err != nil {
		return handshake.Event{Kind: handshake.EvFailed, SwitchID: id, Reason: "VIP release: " + err.Error()}, true
	}
	return handshake.Event{Kind: handshake.EvSwitchedOut, SwitchID: id}, true
}

// actSendSwitchOut tells the standby to switch in and waits for it to be
// ACTIVE. Without a clear answer it resolves with the peer.
func (d *Driver) actSendSwitchOut(ctx context.Context) (handshake.Event, bool) {
	rec := d.Record()
	sctx, cancel := context.WithTimeout(ctx, d.switchInBudget())
	defer cancel()
	ans, err := d.peer.SwitchOut(sctx, api.PeerSwitchOut{From: d.conf().Node.Name, SwitchID: rec.SwitchID, Epoch: rec.Epoch})
	d.emitPeerSteps(ans.Steps)
	if err == nil && handshake.Outcome(ans.Outcome) == handshake.OutcomeActive {
		return handshake.Event{Kind: handshake.EvPeerActive, SwitchID: ans.SwitchID, Epoch: ans.Epoch, ReverseLSN: ans.ReverseLSN}, true
	}
	d.Logger().Warn().Err(err).Msg("no clear answer to SWITCH_OUT; asking the peer what it did")
	return d.QueryPeer(ctx, d.switchInBudget())
}

// switchInBudget bounds how long the standby may take to switch in.
func (d *Driver) switchInBudget() time.Duration {
	return 2*d.conf().Switchover.StepTimeout + d.conf().Service.Timeout
}

// actQueryPeer asks the peer what became of the switchover until it gives
// a final answer or the budget runs out.
func (d *Driver) QueryPeer(ctx context.Context, budget time.Duration) (handshake.Event, bool) {
	rec := d.Record()
	deadline := time.Now().Add(budget)
	var lastErr error
	for time.Now().Before(deadline) {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ans, err := d.peer.Resolve(qctx, api.PeerResolve{From: d.conf().Node.Name, SwitchID: rec.SwitchID, Epoch: rec.Epoch})
		cancel()
		switch {
		case err != nil:
			lastErr = err
		case ans.Outcome == api.OutcomeActive:
			return handshake.Event{Kind: handshake.EvPeerActive, SwitchID: ans.SwitchID, Epoch: ans.Epoch, ReverseLSN: ans.ReverseLSN}, true
		case ans.Outcome == api.OutcomeWillNotPromote:
			return handshake.Event{Kind: handshake.EvPeerWillNotPromote, SwitchID: ans.SwitchID}, true
		}
		select {
		case <-ctx.Done():
			return handshake.Event{}, false
		case <-time.After(200 * time.Millisecond):
		}
	}
	reason := fmt.Sprintf("cannot learn from %s whether it promoted", d.conf().Peer.Name)
	if lastErr != nil {
		reason += ": " + lastErr.Error()
	}
	return handshake.Event{Kind: handshake.EvPeerUnreachable, SwitchID: rec.SwitchID, Reason: reason}, true
}

// actResume: the VIP and the service again (an aborted switch-out).
func (d *Driver) actResume(ctx context.Context) {
	if err := d.env.BindVIP(ctx); err != nil {
		d.Logger().Error().Err(err).Msg("binding the VIP again")
	}
	if err := d.env.StartService(ctx); err != nil {
		d.Logger().Error().Err(err).Msg("starting the service again")
	}
}

// actFollow makes the old active a standby of the new one: read-only for
// clients, its own slot for the peer dropped, the origin at the reverse
// slot's consistent point. The reconcile loop then starts the applier.
func (d *Driver) actFollow(ctx context.Context) {
	rec := d.Record()
	from, err := parseLSN(rec.ReverseLSN)
	if err != nil {
		d.Logger().Error().Err(err).Msg("reverse slot position")
	}
	for attempt := 0; ; attempt++ {
		fctx, cancel := context.WithTimeout(ctx, d.conf().Switchover.StepTimeout)
		err = d.LocalDB().Unfence(fctx, false)
		if err == nil {
			err = d.LocalDB().DropSlot(fctx, d.conf().PeerSlotName())
		}
		if err == nil && from != 0 {
			err = d.LocalDB().Follow(fctx, d.conf().OriginName(), from)
		}
		cancel()
		if err == nil || attempt >= 20 || ctx.Err() != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		d.Logger().Error().Err(err).Msg("preparing to follow the new active")
		return
	}
	d.env.RefreshDB()
	d.Logger().Info().Str("lsn", rec.ReverseLSN).Str("slot", d.conf().SlotName()).Msg("following the new active from the reverse slot")
}
