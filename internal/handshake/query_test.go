package handshake

import "testing"

// TestEndedEveryEdge: every edge of the table that leaves a switchover says
// how it ended, and no edge outside one claims to end it.
func TestEndedEveryEdge(t *testing.T) {
	for _, tr := range table {
		r, ok := Ended(tr.from, tr.to)
		inFrom, inTo := WantOf(tr.from).InSwitchover, WantOf(tr.to).InSwitchover
		switch {
		case tr.from == tr.to || !inFrom:
			if ok {
				t.Errorf("%s -%s-> %s ends a switchover (%s), but it is not part of one", tr.from, tr.on, tr.to, r)
			}
		case tr.to == Fenced || tr.to == SelfFenced:
			if r != ResultFenced {
				t.Errorf("%s -%s-> %s ended %q, want fenced", tr.from, tr.on, tr.to, r)
			}
		case !inTo && !ok:
			t.Errorf("%s -%s-> %s leaves the switchover without a result", tr.from, tr.on, tr.to)
		case inTo && ok:
			t.Errorf("%s -%s-> %s stays in the switchover but ended it %q", tr.from, tr.on, tr.to, r)
		}
		if ok && r == ResultDone && !(tr.to == Active && (tr.on == EvSwitchedIn || tr.on == EvTakenOver)) && !(tr.to == Standby && tr.on == EvPeerActive) {
			t.Errorf("%s -%s-> %s is called done; only a switch-in or following the peer is", tr.from, tr.on, tr.to)
		}
	}
}

// TestQueriesFollowTheTable: the daemon's questions are answered from the
// table, so they change with it.
func TestQueriesFollowTheTable(t *testing.T) {
	for _, s := range append(fuzzStates, Initializing) {
		if got, want := Takes(s, EvPromote), s == Active; got != want {
			t.Errorf("Takes(%s, promote) = %v, want %v", s, got, want)
		}
		if got, want := MayAgree(s), s == Standby; got != want {
			t.Errorf("MayAgree(%s) = %v, want %v", s, got, want)
		}
	}
	n := Node{State: Standby, Epoch: 3}
	n, _, err := Step(n, Event{Kind: EvRequest, SwitchID: "s1", Epoch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !Accepts(n, Event{Kind: EvCaughtUp, SwitchID: "s1"}) {
		t.Error("a standby waiting for s1 does not take its catch-up")
	}
	if Accepts(n, Event{Kind: EvCaughtUp, SwitchID: "s0"}) {
		t.Error("a standby waiting for s1 takes another switchover's catch-up")
	}
	aborted, _, _ := Step(n, Event{Kind: EvAbort, SwitchID: "s1"})
	if Accepts(aborted, Event{Kind: EvCaughtUp, SwitchID: "s1"}) {
		t.Error("an abandoned switchover's catch-up is still taken")
	}
	for _, c := range []struct {
		n      Node
		result Result
		ok     bool
	}{
		{Node{State: Standby, SwitchID: "s1", Epoch: 4}, ResultDone, true},
		{Node{State: Standby, SwitchID: "s0", Epoch: 4}, ResultFenced, false},
		{Node{State: Fenced, SwitchID: "s1"}, ResultFenced, true},
		{Node{State: Active, SwitchID: "s1"}, ResultAborted, true},
		{Node{State: SwitchingOut, SwitchID: "s1"}, ResultFenced, false},
	} {
		if r, ok := ResultOf(c.n, "s1"); r != c.result || ok != c.ok {
			t.Errorf("ResultOf(%+v) = %s %v, want %s %v", c.n, r, ok, c.result, c.ok)
		}
	}
}
