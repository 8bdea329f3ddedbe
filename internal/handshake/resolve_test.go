package handshake

import "testing"

// TestResolve: what a node answers the old active in epoch 1 that asks
// about switchover s1. The rule that matters: once promoted past the
// asker's epoch it never says "will not promote" (the asker would serve
// again beside it), and it names the switchover that promoted it.
func TestResolve(t *testing.T) {
	promoted := Node{State: Active, Epoch: 2, SwitchID: "s1", ReverseLSN: "0/10", PromotedBy: "s1", PromotedLSN: "0/10"}
	cases := []struct {
		name string
		n    Node
		want Resolution
	}{
		{"active after the switchover asked about", promoted,
			Resolution{OutcomeActive, "s1", 2, "0/10"}},
		{"active, trying another switchover since", Node{State: RequestingSwitch, Epoch: 2, SwitchID: "s6", PromotedBy: "s1", PromotedLSN: "0/10"},
			Resolution{OutcomeActive, "s1", 2, "0/10"}},
		{"active, the other switchover abandoned", Node{State: Active, Epoch: 2, SwitchID: "s6", Refused: []string{"s6"}, PromotedBy: "s1", PromotedLSN: "0/10"},
			Resolution{OutcomeActive, "s1", 2, "0/10"}},
		{"active from another switchover: named, for the asker to reject", Node{State: Active, Epoch: 2, SwitchID: "s0", PromotedBy: "s0", PromotedLSN: "0/5"},
			Resolution{OutcomeActive, "s0", 2, "0/5"}},
		{"promoted since and switching out in turn: ask again, never will-not-promote", Node{State: SwitchingOut, Epoch: 2, SwitchID: "s6", PromotedBy: "s1"},
			Resolution{OutcomeAskAgain, "s1", 2, ""}},
		{"promoted since and fenced: ask again", Node{State: Fenced, Epoch: 2, SwitchID: "s6", PromotedBy: "s1"},
			Resolution{OutcomeAskAgain, "s1", 2, ""}},
		{"switching in: ask again", Node{State: SwitchingIn, Epoch: 1, SwitchID: "s1"},
			Resolution{OutcomeAskAgain, "s1", 1, ""}},
		{"agreed: abandon first", Node{State: AgreeSwitch, Epoch: 1, SwitchID: "s1"},
			Resolution{OutcomeAbortFirst, "s1", 1, ""}},
		{"catching up for it: abandon first", Node{State: Standby, Epoch: 1, SwitchID: "s1"},
			Resolution{OutcomeAbortFirst, "s1", 1, ""}},
		{"abandoned already", Node{State: Standby, Epoch: 1, SwitchID: "s1", Refused: []string{"s1"}},
			Resolution{OutcomeWillNotPromote, "s1", 1, ""}},
		{"never heard of it", Node{State: Standby, Epoch: 1},
			Resolution{OutcomeWillNotPromote, "s1", 1, ""}},
		{"a fault", Node{State: Fault, Epoch: 1, SwitchID: "s1", Refused: []string{"s1"}},
			Resolution{OutcomeWillNotPromote, "s1", 1, ""}},
	}
	for _, tc := range cases {
		if got := Resolve(tc.n, "s1", 1); got != tc.want {
			t.Errorf("%s: Resolve = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestPromotedSurvivesLaterSwitchovers: the switchover that made a node
// active is kept while it tries another one, and dropped when it follows.
func TestPromotedSurvivesLaterSwitchovers(t *testing.T) {
	n := Node{State: SwitchingIn, Epoch: 1, SwitchID: "s1"}
	steps := []Event{
		{Kind: EvSwitchedIn, SwitchID: "s1", ReverseLSN: "0/10"},
		{Kind: EvPromote, SwitchID: "s6"},
		{Kind: EvFailed, SwitchID: "s6"},
	}
	for _, e := range steps {
		var err error
		if n, _, err = Step(n, e); err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		if n.PromotedBy != "s1" || n.PromotedLSN != "0/10" {
			t.Fatalf("after %s: promoted by %q at %q, want s1 at 0/10", e, n.PromotedBy, n.PromotedLSN)
		}
	}
	n = Node{State: SwitchingOut, Epoch: 2, SwitchID: "s7", PromotedBy: "s1"}
	n, _, err := Step(n, Event{Kind: EvPeerActive, SwitchID: "s7", Epoch: 3, ReverseLSN: "0/20"})
	if err != nil || n.PromotedBy != "" || n.PromotedLSN != "" {
		t.Errorf("a node that follows keeps promoted by %q at %q (err %v)", n.PromotedBy, n.PromotedLSN, err)
	}
}
