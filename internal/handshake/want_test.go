package handshake

import "testing"

// TestWantOfEveryState pins what each state asks of the world; a change here
// changes what the daemon's reconcile loop does, so it must be deliberate.
func TestWantOfEveryState(t *testing.T) {
	type row struct {
		applier, vip Presence
		clients      ClientMode
		sync         SyncWant
		backend      Backend
		role         Role
		leader       LeaderWant
		// service check, commit probe, sweep, peer slot absent, query
		// peer, local faults, self switchover, in switchover, relay
		// promote, faulty, outgoing, keeps the peer's slot, runs
		flags string
	}
	want := map[State]row{
		Active:           {Absent, Present, ClientsWritable, SyncPolicy, BackendPrimary, RolePrimary, LeaderHold, "SCW---A----KD"},
		RequestingSwitch: {Absent, AsIs, ClientsAsIs, SyncAsIs, BackendNone, RoleNone, LeaderHold, "-------I--O-D"},
		SwitchingOut:     {Absent, Absent, ClientsAsIs, SyncAsIs, BackendNone, RoleNone, LeaderHold, "-------I--O-D"},
		Fenced:           {Absent, Absent, ClientsFenced, SyncAsIs, BackendNone, RoleNone, LeaderHold, "----Q--I-FO-D"},
		Standby:          {Present, Absent, ClientsReadOnly, SyncClear, BackendReplica, RoleStandby, LeaderWatch, "--WP-L--R---D"},
		Fault:            {Present, Absent, ClientsReadOnly, SyncClear, BackendNone, RoleStandby, LeaderWatch, "--WP-L--RF--D"},
		AgreeSwitch:      {Present, Absent, ClientsAsIs, SyncAsIs, BackendNone, RoleNone, LeaderWatch, "-------I----D"},
		SwitchingIn:      {AsIs, AsIs, ClientsAsIs, SyncAsIs, BackendNone, RoleNone, LeaderNone, "-------I----D"},
		Initializing:     {AsIs, AsIs, ClientsAsIs, SyncAsIs, BackendNone, RoleCopying, LeaderNone, "-------------"},
		Resuming:         {Absent, AsIs, ClientsReadOnly, SyncAsIs, BackendNone, RoleNone, LeaderRegain, "------------D"},
		SelfFenced:       {Absent, Absent, ClientsFenced, SyncAsIs, BackendNone, RoleNone, LeaderRegain, "---------F--D"},
		Claiming:         {Present, Absent, ClientsReadOnly, SyncAsIs, BackendNone, RoleNone, LeaderClaim, "-------I----D"},
		TakingOver:       {AsIs, AsIs, ClientsAsIs, SyncAsIs, BackendNone, RoleNone, LeaderHold, "-------I----D"},
	}
	flags := func(w Want) string {
		b := []byte("-------------")
		for i, f := range []struct {
			on bool
			c  byte
		}{{w.ServiceCheck, 'S'}, {w.CommitProbe, 'C'}, {w.SweepSlots, 'W'}, {w.PeerSlotAbsent, 'P'},
			{w.QueryPeer, 'Q'}, {w.LocalFaults, 'L'}, {w.SelfSwitchover, 'A'}, {w.InSwitchover, 'I'}, {w.RelayPromote, 'R'},
			{w.Faulty, 'F'}, {w.Outgoing, 'O'}, {w.KeepsPeerSlot, 'K'}, {w.Runs, 'D'}} {
			if f.on {
				b[i] = f.c
			}
		}
		return string(b)
	}
	for _, s := range append(fuzzStates, Initializing) {
		w := WantOf(s)
		r, ok := want[s]
		if !ok {
			t.Errorf("%s: no expectation", s)
			continue
		}
		got := row{w.Applier, w.VIP, w.Clients, w.SyncNames, w.Backend, w.Role, w.Leader, flags(w)}
		if got != r {
			t.Errorf("WantOf(%s) = %+v, want %+v", s, got, r)
		}
	}
	if w := WantOf("BOGUS"); w != (Want{}) {
		t.Errorf("an unknown state wants %+v, want nothing", w)
	}
}

// TestWantsNeverTwoWriters: only ACTIVE wants clients writing or the VIP,
// and the states that may write or hold the VIP are ACTIVE and the ones
// whose own actions move them (so a pair of states that both may write is
// one the transitions must never reach: the pair model checks that).
func TestWantsNeverTwoWriters(t *testing.T) {
	for _, s := range append(fuzzStates, Initializing) {
		w := WantOf(s)
		if w.Clients == ClientsWritable && s != Active {
			t.Errorf("%s wants writable clients", s)
		}
		if w.VIP == Present && s != Active {
			t.Errorf("%s wants the VIP", s)
		}
		if w.Applier == Present && (w.Clients == ClientsWritable || w.VIP == Present) {
			t.Errorf("%s wants to apply the peer's changes and to serve", s)
		}
		if MayWrite(s) != (s == Active || s == SwitchingIn || s == TakingOver) {
			t.Errorf("MayWrite(%s) = %t", s, MayWrite(s))
		}
		if got, want := MayHoldVIP(s), s == Active || s == RequestingSwitch || s == SwitchingIn || s == TakingOver || s == Resuming; got != want {
			t.Errorf("MayHoldVIP(%s) = %t, want %t", s, got, want)
		}
	}
}
