package switchover

import (
	"sync"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/state"
)

// switchLog keeps the record of the current (or last) switchover.
type switchLog struct {
	mu        sync.Mutex
	cur       *api.Switchover
	last      time.Time
	watch     map[int]func(api.Step) // by id; removed when unwatched
	nextWatch int
}

// noteStep adds a step of a switchover to its record (under d.mu).
func (d *Driver) noteStep(from handshake.State, rec state.Record, ev handshake.Event) {
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
	if d.metrics != nil {
		d.metrics.steps.WithLabelValues(string(rec.State)).Observe(st.Took.Seconds())
	}
	if d.metrics != nil && from == handshake.TakingOver && rec.State == handshake.Active {
		d.metrics.takeover.Observe(now.Sub(s.cur.Started).Seconds())
	}
	if r, ok := handshake.Ended(from, rec.State); ok {
		// Counted once: a FENCED node that later learns the outcome
		// corrects the record, not the count.
		first := s.cur.Outcome == "running"
		s.cur.Finished = now
		s.cur.Outcome = string(r)
		s.cur.Reason = rec.Reason
		if d.metrics != nil && first {
			d.metrics.outcomes.WithLabelValues(s.cur.Outcome).Inc()
		}
	}
	for _, w := range s.watch {
		w(st)
	}
}

// LastSwitchover is the current or last switchover's record, for status.
func (d *Driver) LastSwitchover() *api.Switchover {
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

// watchSteps calls f with every step until the returned function is called.
func (d *Driver) watchSteps(f func(api.Step)) func() {
	s := &d.switches
	s.mu.Lock()
	if s.watch == nil {
		s.watch = map[int]func(api.Step){}
	}
	s.nextWatch++
	id := s.nextWatch
	s.watch[id] = f
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.watch, id)
		s.mu.Unlock()
	}
}

// emitPeerSteps adds the peer's transitions to the switchover record.
func (d *Driver) emitPeerSteps(steps []api.Step) {
	s := &d.switches
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range steps {
		if s.cur != nil {
			s.cur.Steps = append(s.cur.Steps, st)
		}
		for _, w := range s.watch {
			w(st)
		}
	}
}

// collectSteps gathers this node's transitions for a reply to the peer.
func (d *Driver) collectSteps() (func(), func() []api.Step) {
	var mu sync.Mutex
	var steps []api.Step
	unwatch := d.watchSteps(func(s api.Step) {
		mu.Lock()
		steps = append(steps, s)
		mu.Unlock()
	})
	return unwatch, func() []api.Step {
		mu.Lock()
		defer mu.Unlock()
		return append([]api.Step(nil), steps...)
	}
}
