package supervise

import (
	"sort"
	"sync"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
)

// Set holds the faults present now. A fault is confirmed once it has lasted
// its grace; only confirmed faults are reported and acted on, so a
// reconnect passes quietly. The zero Set is empty and ready; it is safe
// for concurrent use.
type Set struct {
	mu  sync.Mutex
	m   map[Reason]*entry
	now func() time.Time // for tests; time.Now when nil
}

type entry struct {
	detail    string
	since     time.Time
	confirmed bool
}

func (s *Set) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Observe records whether a fault is present now; it returns true when the
// fault has just been confirmed or has just cleared (worth a log line). A
// confirmed fault that clears and comes back starts its grace again.
func (s *Set) Observe(r Reason, detail string, present bool, grace time.Duration) (changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[Reason]*entry{}
	}
	e, ok := s.m[r]
	switch {
	case !present && ok:
		delete(s.m, r)
		return e.confirmed
	case !present:
		return false
	case !ok:
		e = &entry{since: s.clock()}
		s.m[r] = e
	}
	e.detail = detail
	if !e.confirmed && s.clock().Sub(e.since) >= grace {
		e.confirmed = true
		return true
	}
	return false
}

// Confirmed lists the confirmed faults, by reason.
func (s *Set) Confirmed() []api.Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []api.Fault
	for r, e := range s.m {
		if e.confirmed {
			out = append(out, api.Fault{Reason: string(r), Detail: e.detail, Since: e.since})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reason < out[j].Reason })
	return out
}

// Has reports whether a confirmed fault with this reason is present, and
// since when.
func (s *Set) Has(r Reason) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[r]; ok && e.confirmed {
		return e.since, true
	}
	return time.Time{}, false
}
