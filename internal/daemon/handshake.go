package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/state"
)

// nodeOf is the handshake part of the persisted record.
func nodeOf(r state.Record) handshake.Node { return r.Node }

// step feeds one event to the state machine, persists the new state and
// only then returns the actions to perform (SPEC §2: persisted before it is
// acted on).
func (d *Daemon) step(ev handshake.Event) ([]handshake.Action, error) {
	acts, entered, err := d.stepLocked(ev)
	if err == nil && entered != "" {
		d.testHold(entered)
	}
	return acts, err
}

func (d *Daemon) stepLocked(ev handshake.Event) ([]handshake.Action, handshake.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.rec
	next, acts, err := handshake.Step(nodeOf(prev), ev)
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

// saveRecord persists a change of the record that is not a handshake
// transition (the state stays as it is).
func (d *Daemon) saveRecord(change func(r *state.Record)) error {
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

// switchLog keeps the record of the current (or last) switchover.
type switchLog struct {
	mu        sync.Mutex
	cur       *api.Switchover
	last      time.Time
	watch     map[int]func(api.Step) // by id; removed when unwatched
	nextWatch int
}

func (d *Daemon) noteStep(from handshake.State, rec state.Record, ev handshake.Event) {
	if from == rec.State && ev.Kind != handshake.EvFenced {
		return
	}
	if !handshake.WantOf(from).InSwitchover && !handshake.WantOf(rec.State).InSwitchover {
		// Not a switchover's step (a fault raised or cleared).
		return
	}
	s := &d.switches
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.cur == nil || s.cur.ID != rec.SwitchID {
		s.cur = &api.Switchover{ID: rec.SwitchID, Started: now, Outcome: "running",
			From: d.conf().Peer.Name, To: d.conf().Node.Name}
		if handshake.WantOf(from).Outgoing || handshake.WantOf(rec.State).Outgoing {
			s.cur.From, s.cur.To = d.conf().Node.Name, d.conf().Peer.Name
		}
		s.last = now
	}
	st := api.Step{Node: d.conf().Node.Name, State: string(rec.State), At: now, Took: now.Sub(s.last), Detail: string(ev.Kind)}
	if ev.Reason != "" {
		st.Detail += ": " + ev.Reason
	}
	s.last = now
	s.cur.Steps = append(s.cur.Steps, st)
	if d.swm != nil {
		d.swm.steps.WithLabelValues(string(rec.State)).Observe(st.Took.Seconds())
	}
	if r, ok := handshake.Ended(from, rec.State); ok {
		// Counted once: a FENCED node that later learns the outcome
		// corrects the record, not the count.
		first := s.cur.Outcome == "running"
		s.cur.Finished = now
		s.cur.Outcome = string(r)
		s.cur.Reason = rec.Reason
		if d.swm != nil && first {
			d.swm.outcomes.WithLabelValues(s.cur.Outcome).Inc()
		}
	}
	for _, w := range s.watch {
		w(st)
	}
}

// lastSwitchover for status.
func (d *Daemon) lastSwitchover() *api.Switchover {
	s := &d.switches
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	c := *s.cur
	c.Steps = append([]api.Step(nil), s.cur.Steps...)
	return &c
}

// drive performs actions in order, feeding each outcome back as an event,
// until nothing is left to do.
func (d *Daemon) drive(ctx context.Context, acts []handshake.Action) {
	for len(acts) > 0 {
		a := acts[0]
		acts = acts[1:]
		ev, ok := d.perform(ctx, a)
		if !ok {
			continue
		}
		more, err := d.step(ev)
		if err != nil && (a == handshake.ActSendSwitchOut || a == handshake.ActQueryPeer) {
			// The peer answered about another switchover or epoch (the
			// table rejected it): that proves nothing about this one,
			// so it counts as no answer — FENCED, asking again.
			more, err = d.step(handshake.Event{Kind: handshake.EvPeerUnreachable, SwitchID: d.switchID(),
				Reason: fmt.Sprintf("%s answered about another switchover or epoch (%s): %v", d.conf().Peer.Name, ev, err)})
		}
		if err != nil {
			continue
		}
		acts = append(acts, more...)
	}
}

// perform runs one action and returns the event it produced, if any.
func (d *Daemon) perform(ctx context.Context, a handshake.Action) (handshake.Event, bool) {
	switch a {
	case handshake.ActFence:
		return d.actFence(ctx)
	case handshake.ActSendRequest:
		return d.actSendRequest(ctx)
	case handshake.ActSendAbort:
		d.actSendAbort(ctx)
	case handshake.ActUnfenceWritable:
		d.actUnfence(ctx, true)
	case handshake.ActSwitchOut:
		return d.actSwitchOut(ctx)
	case handshake.ActSendSwitchOut:
		return d.actSendSwitchOut(ctx)
	case handshake.ActQueryPeer:
		return d.actQueryPeer(ctx, d.switchInBudget())
	case handshake.ActResume:
		d.actResume(ctx)
	case handshake.ActFollow:
		d.actFollow(ctx)
	case handshake.ActSwitchIn:
		return d.actSwitchIn(ctx)
	case handshake.ActRunApplier, handshake.ActReplyAgree, handshake.ActReplyRefuse, handshake.ActReplyActive, handshake.ActWaitCatchUp:
		// The reconcile loop runs the applier; replies and the catch-up
		// wait belong to the request handlers that fed the event.
	default:
		d.logger().Error().Str("action", string(a)).Msg("unknown handshake action")
	}
	return handshake.Event{}, false
}

func newSwitchID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}
