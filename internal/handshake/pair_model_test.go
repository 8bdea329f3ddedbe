package handshake

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// The pair model: two nodes driven through Step in memory, in the spirit
// of etcd raft's network test. Actions become pending local completions or
// messages on a lossy network; the chooser picks what happens next.

// chooser picks the next choice among n; rand or fuzz bytes.
type chooser interface{ pick(n int) int }

type randChooser struct{ r *rand.Rand }

func (c randChooser) pick(n int) int { return c.r.IntN(n) }

type byteChooser struct {
	b []byte
	i int
}

func (c *byteChooser) pick(n int) int {
	if c.i >= len(c.b) {
		return 0
	}
	v := int(c.b[c.i])
	c.i++
	return v % n
}

func (c *byteChooser) done() bool { return c.i >= len(c.b) }

// pending is an event a node will feed itself; inc is the incarnation that
// started it (a restart discards it).
type pending struct {
	node, inc int
	alts      []Event // alts[0] is the success
	timeout   bool    // a timeout: only after the messages in a healed network
}

// msg is one message on the network; resolve marks a query_peer.
type msg struct {
	to      int
	ev      Event
	resolve bool
	from    int
	inc     int // the sender's incarnation, for the answer
}

type pairNode struct {
	n   Node
	inc int
}

type pair struct {
	nodes   [2]pairNode
	net     []msg
	pend    []pending
	trace   []string
	nextSw  int
	healed  bool
	lastErr error
}

func newPair() *pair {
	return &pair{nodes: [2]pairNode{{n: Node{State: Active, Epoch: 1}}, {n: Node{State: Standby, Epoch: 1}}}}
}

func (p *pair) logf(format string, a ...any) { p.trace = append(p.trace, fmt.Sprintf(format, a...)) }

func name(i int) string { return []string{"node-a", "node-b"}[i] }

// step feeds e to node i and performs the actions.
func (p *pair) step(i int, e Event) {
	before := p.nodes[i].n
	next, acts, err := Step(before, e)
	if err != nil {
		p.logf("%s %s: rejected (%v)", name(i), e, err)
		return
	}
	p.nodes[i].n = next
	p.logf("%s %s: %s -> %s %v", name(i), e, before.State, next.State, acts)
	if err := p.checkStep(i, before, next); err != nil && p.lastErr == nil {
		p.lastErr = err
	}
	for _, a := range acts {
		p.perform(i, a)
	}
}

func (p *pair) local(i int, timeout bool, alts ...Event) {
	p.pend = append(p.pend, pending{node: i, inc: p.nodes[i].inc, alts: alts, timeout: timeout})
}

func (p *pair) send(from int, ev Event, resolve bool) {
	p.net = append(p.net, msg{to: 1 - from, ev: ev, resolve: resolve, from: from, inc: p.nodes[from].inc})
}

// perform models action a of node i as what it does.
func (p *pair) perform(i int, a Action) {
	n := p.nodes[i].n
	id := n.SwitchID
	switch a {
	case ActFence:
		p.local(i, false, Event{Kind: EvFenced, SwitchID: id, FenceLSN: "F/" + id}, Event{Kind: EvFailed, SwitchID: id})
	case ActSendRequest:
		p.send(i, Event{Kind: EvRequest, SwitchID: id, Epoch: n.Epoch, FenceLSN: n.FenceLSN}, false)
		p.local(i, true, Event{Kind: EvFailed, SwitchID: id, Reason: "no answer"})
	case ActSendAbort:
		p.send(i, Event{Kind: EvAbort, SwitchID: id}, false)
	case ActSwitchOut:
		p.local(i, false, Event{Kind: EvSwitchedOut, SwitchID: id}, Event{Kind: EvFailed, SwitchID: id})
	case ActSendSwitchOut:
		p.send(i, Event{Kind: EvSwitchOut, SwitchID: id, Epoch: n.Epoch}, false)
		// No clear answer: the daemon asks the peer what it did.
		p.local(i, true, Event{Kind: EvPeerUnreachable, SwitchID: id, Reason: "no answer to switch_out"})
	case ActQueryPeer:
		p.send(i, Event{SwitchID: id, Epoch: n.Epoch}, true)
		p.local(i, true, Event{Kind: EvPeerUnreachable, SwitchID: id, Reason: "no answer to query"})
	case ActWaitCatchUp:
		p.local(i, false, Event{Kind: EvCaughtUp, SwitchID: id}, Event{Kind: EvCatchupTimeout, SwitchID: id})
	case ActReplyAgree:
		p.send(i, Event{Kind: EvPeerAgreed, SwitchID: id}, false)
		p.local(i, true, Event{Kind: EvAgreeTimeout, SwitchID: id})
	case ActReplyRefuse:
		p.send(i, Event{Kind: EvPeerRefused, SwitchID: id}, false)
	case ActSwitchIn:
		p.local(i, false, Event{Kind: EvSwitchedIn, SwitchID: id, ReverseLSN: "R/" + id}, Event{Kind: EvFailed, SwitchID: id})
	case ActReplyActive:
		p.send(i, Event{Kind: EvPeerActive, SwitchID: id, Epoch: n.Epoch, ReverseLSN: n.ReverseLSN}, false)
	case ActUnfenceWritable, ActResume, ActFollow, ActRunApplier:
		// Level-triggered, no event back.
	default:
		panic("pair model: unmodelled action " + string(a))
	}
}

// resolve is what the standby's onResolve answers, from its persisted Node
// (it may abandon the switchover first). ok false: an error, no answer.
// Like the daemon's, an "active" answer names the switchover that made the
// peer active, whatever was asked: the asker's guards judge it (a rejected
// answer counts as none, and the asker's timeout event follows).
func (p *pair) resolve(i int, q Event) (Event, bool) {
	for range 2 {
		r := Resolve(p.nodes[i].n, q.SwitchID, q.Epoch)
		switch r.Outcome {
		case OutcomeActive:
			return Event{Kind: EvPeerActive, SwitchID: r.SwitchID, Epoch: r.Epoch, ReverseLSN: r.ReverseLSN}, true
		case OutcomeWillNotPromote:
			return Event{Kind: EvPeerWillNotPromote, SwitchID: r.SwitchID, Epoch: r.Epoch}, true
		case OutcomeAskAgain:
			return Event{}, false
		case OutcomeAbortFirst:
			p.step(i, Event{Kind: EvAbort, SwitchID: q.SwitchID, Reason: "the active asked to resolve"})
		}
	}
	return Event{}, false
}

func (p *pair) deliver(k int, dup bool) {
	m := p.net[k]
	if !dup {
		p.net = slices.Delete(p.net, k, k+1)
	}
	if m.resolve {
		ans, ok := p.resolve(m.to, m.ev)
		p.logf("%s answers query switch=%s: %v %s", name(m.to), m.ev.SwitchID, ok, ans)
		if ok && p.nodes[m.from].inc == m.inc {
			p.net = append(p.net, msg{to: m.from, ev: ans, from: m.to})
		}
		return
	}
	p.step(m.to, m.ev)
}

func (p *pair) restart(i int) {
	p.nodes[i].inc++
	p.logf("%s crashes", name(i))
	p.step(i, Event{Kind: EvRestart})
}

// checkStep: properties of one node's transition.
func (p *pair) checkStep(i int, before, next Node) error {
	if next.Epoch < before.Epoch {
		return fmt.Errorf("%s epoch went back %d -> %d", name(i), before.Epoch, next.Epoch)
	}
	if before.State == SwitchingIn && next.State != SwitchingIn && next.State != Active {
		return fmt.Errorf("%s left SWITCHING_IN for %s", name(i), next.State)
	}
	return nil
}

// checkPair: properties of the pair after every step.
func (p *pair) checkPair() error {
	if p.lastErr != nil {
		return p.lastErr
	}
	a, b := p.nodes[0].n, p.nodes[1].n
	// What the states want (WantOf), and what their own actions may do
	// meanwhile (SWITCHING_IN makes the database writable and binds the
	// VIP; REQUESTING_SWITCH still holds it): never on both nodes.
	if MayWrite(a.State) && MayWrite(b.State) {
		return fmt.Errorf("both may take writes: %s/%d and %s/%d", a.State, a.Epoch, b.State, b.Epoch)
	}
	if MayHoldVIP(a.State) && MayHoldVIP(b.State) {
		return fmt.Errorf("VIP may be held on both: %s and %s", a.State, b.State)
	}
	activeish := func(s State) bool { return s == Active || s == RequestingSwitch }
	if activeish(a.State) && activeish(b.State) && a.Epoch == b.Epoch {
		return fmt.Errorf("both active-ish in epoch %d", a.Epoch)
	}
	return nil
}

// chaos does one random thing (possibly nothing, e.g. no message to deliver).
func (p *pair) chaos(c chooser) {
	switch c.pick(10) {
	case 0, 1, 2:
		if len(p.net) > 0 {
			k := c.pick(len(p.net))
			switch c.pick(6) {
			case 0:
				p.logf("drop %s -> %s", p.net[k].ev, name(p.net[k].to))
				p.net = slices.Delete(p.net, k, k+1)
			case 1:
				p.deliver(k, true)
			default:
				p.deliver(k, false)
			}
		}
	case 3, 4, 5:
		p.completeOne(c, true)
	case 6:
		p.restart(c.pick(2))
	case 7:
		p.nextSw++
		p.step(c.pick(2), Event{Kind: EvPromote, SwitchID: fmt.Sprintf("sw%d", p.nextSw)})
	case 8:
		i := c.pick(2)
		if c.pick(2) == 0 {
			p.step(i, Event{Kind: EvLocalFault, Reason: "lag"})
		} else {
			p.step(i, Event{Kind: EvFaultCleared})
		}
	case 9:
		p.tick(c.pick(2))
	}
}

// tick: the daemon's reconcile asks again while FENCED.
func (p *pair) tick(i int) {
	if WantOf(p.nodes[i].n.State).QueryPeer {
		p.perform(i, ActQueryPeer)
	}
}

func (p *pair) completeOne(c chooser, anyAlt bool) {
	if len(p.pend) == 0 {
		return
	}
	k := c.pick(len(p.pend))
	pd := p.pend[k]
	p.pend = slices.Delete(p.pend, k, k+1)
	if pd.inc != p.nodes[pd.node].inc {
		return
	}
	e := pd.alts[0]
	if anyAlt {
		e = pd.alts[c.pick(len(pd.alts))]
	}
	p.step(pd.node, e)
}

// heal runs the healed network: every message delivered, local steps
// succeed, timeouts fire only when nothing else can happen, faults cleared.
func (p *pair) heal(maxSteps int) (int, error) {
	for i := range 2 {
		if p.nodes[i].n.State == Fault {
			p.step(i, Event{Kind: EvFaultCleared})
		}
	}
	for s := range maxSteps {
		if err := p.checkPair(); err != nil {
			return s, err
		}
		switch {
		case len(p.net) > 0:
			p.deliver(0, false)
		case p.firstPending(false) >= 0:
			k := p.firstPending(false)
			pd := p.pend[k]
			p.pend = slices.Delete(p.pend, k, k+1)
			if pd.inc == p.nodes[pd.node].inc {
				p.step(pd.node, pd.alts[0])
			}
		case p.firstPending(true) >= 0:
			k := p.firstPending(true)
			pd := p.pend[k]
			p.pend = slices.Delete(p.pend, k, k+1)
			if pd.inc == p.nodes[pd.node].inc {
				p.step(pd.node, pd.alts[0])
			}
		case p.resting():
			return s, nil
		default:
			// Nothing pending and not resting: FENCED asks again.
			before := len(p.net)
			p.tick(0)
			p.tick(1)
			if len(p.net) == before {
				return s, fmt.Errorf("stuck in %s/%s with nothing to do", p.nodes[0].n.State, p.nodes[1].n.State)
			}
		}
	}
	return maxSteps, fmt.Errorf("not resting after %d healed steps: %s/%s", maxSteps, p.nodes[0].n.State, p.nodes[1].n.State)
}

func (p *pair) firstPending(timeout bool) int {
	for k, pd := range p.pend {
		if pd.timeout == timeout {
			return k
		}
	}
	return -1
}

func (p *pair) resting() bool {
	a, b := p.nodes[0].n.State, p.nodes[1].n.State
	return (a == Active && b == Standby) || (a == Standby && b == Active)
}

func (p *pair) dump() string { return strings.Join(p.trace, "\n") }
