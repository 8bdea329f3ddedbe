package handshake

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

var (
	fuzzStates = States
	fuzzEvents = []EventKind{EvPromote, EvFenced, EvPeerAgreed, EvPeerRefused, EvFailed, EvSwitchedOut, EvPeerActive,
		EvPeerWillNotPromote, EvPeerUnreachable, EvRequest, EvCaughtUp, EvCatchupTimeout, EvLocalFault, EvFaultCleared,
		EvSwitchOut, EvAbort, EvAgreeTimeout, EvSwitchedIn, EvRestart, "bogus"}
)

// FuzzStep feeds arbitrary event sequences to one node and checks the
// protocol's safety properties on every step:
//   - a rejected event changes nothing and wraps one of the Err values;
//   - an accepted one is an edge of the table;
//   - the epoch never goes down, and goes up only by switching in (+1) or
//     by following a peer that is active in the next epoch;
//   - a node that released the VIP (SWITCHING_OUT, FENCED) becomes ACTIVE
//     again only when the peer confirmed it will not promote;
//   - a node that began switching in never leaves it except to ACTIVE.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 2, 2, 5, 3, 6, 4})
	f.Add([]byte{3, 9, 1, 10, 1, 14, 1, 17, 1, 18})
	f.Add([]byte{2, 8, 0, 8, 0, 7, 1, 18, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) == 0 {
			return
		}
		n := Node{State: fuzzStates[int(prog[0])%len(fuzzStates)], Epoch: 5, SwitchID: "s1"}
		ids := []string{"s1", "s2", ""}
		for i := 1; i+1 < len(prog); i += 2 {
			kind := fuzzEvents[int(prog[i])%len(fuzzEvents)]
			arg := prog[i+1]
			e := Event{Kind: kind, SwitchID: ids[int(arg)%3], Epoch: n.Epoch + uint64(arg%3) - 1, FenceLSN: "0/1", ReverseLSN: "0/2"}
			next, acts, err := Step(n, e)
			if err != nil {
				if !reflect.DeepEqual(next, n) {
					t.Fatalf("rejected %v changed %+v into %+v", e, n, next)
				}
				if !errors.Is(err, ErrNotAllowed) && !errors.Is(err, ErrStaleEpoch) && !errors.Is(err, ErrUnknownSwitch) {
					t.Fatalf("rejection of %v is not typed: %v", e, err)
				}
				continue
			}
			if !hasEdge(n.State, kind, next.State) {
				t.Fatalf("%s --%s--> %s is not in the table", n.State, kind, next.State)
			}
			switch {
			case next.Epoch < n.Epoch:
				t.Fatalf("epoch went down: %d → %d on %v", n.Epoch, next.Epoch, e)
			case next.Epoch > n.Epoch+1:
				t.Fatalf("epoch jumped: %d → %d on %v", n.Epoch, next.Epoch, e)
			case next.Epoch == n.Epoch+1 && kind != EvSwitchedIn && kind != EvPeerActive:
				t.Fatalf("epoch went up on %v", e)
			}
			if (n.State == SwitchingOut || n.State == Fenced) && next.State == Active && kind != EvPeerWillNotPromote {
				t.Fatalf("%s became ACTIVE on %v without the peer's confirmation", n.State, e)
			}
			if n.State == SwitchingIn && next.State != SwitchingIn && next.State != Active {
				t.Fatalf("SWITCHING_IN gave up: → %s on %v", next.State, e)
			}
			if next.State == Active && n.State != Active && !slices.Contains(acts, ActUnfenceWritable) && !slices.Contains(acts, ActReplyActive) {
				t.Fatalf("became ACTIVE on %v without making the database writable (actions %v)", e, acts)
			}
			n = next
		}
	})
}

func hasEdge(from State, on EventKind, to State) bool {
	for _, t := range table {
		if t.from == from && t.on == on && t.to == to {
			return true
		}
	}
	return false
}
