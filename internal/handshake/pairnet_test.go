package handshake

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pairnet: a second pair model (self-contained; pair_model_test.go is an
// older, simpler one). Two persisted Nodes driven only through Step, in the
// spirit of etcd raft's network test:
//
//   - local actions (fence, switch_out, switch_in, wait_catch_up) complete
//     later, with one of the outcomes action.go documents;
//   - send actions are RPCs on a network that drops, duplicates, delays and
//     reorders; an RPC whose answer does not come times out (request →
//     EvFailed, switch_out → the daemon's query loop, query → EvPeerUnreachable);
//     an answer that comes after its RPC gave up is dropped (the daemon's
//     context is gone), unless lateAnswers is set (a harsher network);
//   - query_peer is answered from the peer's persisted Node by
//     handshake.Resolve (shipped: what the daemon answers), or by the
//     earlier answers it replaced (unchecked, checked, epoch-aware), kept
//     as variants that show what the model finds in them;
//   - besides the states, it tracks commits: no acknowledged commit of the
//     old active may be missing on the node that switches in;
//   - a restart discards the crashed incarnation's pending completions,
//     timers and open RPCs, and feeds EvRestart from the persisted Node.
//
// Safety is checked after every Step; liveness after healing the network.

// pnConfig selects a variant of the world.
type pnConfig struct {
	// checkedResolve: a peer answers "active" only for the switch asked
	// about (today's daemon answers it for any ACTIVE peer).
	checkedResolve bool
	// lateAnswers: an RPC answer is still fed to the asker after its RPC
	// timed out, failed, or died with the asker's incarnation (a harsher
	// network than HTTP, where such an answer has nobody to go to).
	lateAnswers bool
	// gatedPromote: the operator's promote checks SPEC §3.1's precondition
	// as daemon.preconditions does (the peer STANDBY in the same epoch)
	// before EvPromote is fed.
	gatedPromote bool
	// epochResolve: a proposed fix of onResolve: a peer in a newer epoch
	// than the asker's has promoted, so it never answers "will not
	// promote"; it answers "active" with its epoch if it is ACTIVE or
	// already on its own switchover's active side (REQUESTING_SWITCH,
	// SWITCHING_OUT, FENCED), where following it is the only safe move.
	epochResolve bool
	// noAbortResolve breaks onResolve on purpose (it answers "will not
	// promote" without abandoning the switchover first), to show that
	// the model catches a broken protocol.
	noAbortResolve bool
	// shipped: the answer is handshake.Resolve, what the daemon ships
	// (the other resolve flags then do not apply).
	shipped bool
}

func (c pnConfig) String() string {
	s := fmt.Sprintf("checkedResolve=%v lateAnswers=%v gatedPromote=%v epochResolve=%v", c.checkedResolve, c.lateAnswers, c.gatedPromote, c.epochResolve)
	if c.noAbortResolve {
		s += " noAbortResolve=true"
	}
	if c.shipped {
		s = fmt.Sprintf("shipped (handshake.Resolve) lateAnswers=%v gatedPromote=%v", c.lateAnswers, c.gatedPromote)
	}
	return s
}

// Choices come from a chooser (pair_model_test.go): randChooser, or pnList
// below (fuzz bytes, or a recorded list being minimised).

// pnList replays (and records) choices; past its end it picks 0.
type pnList struct {
	v   []int
	i   int
	rec []int
	r   *rand.Rand // if set, choices past the end are random (and recorded)
}

func (c *pnList) pick(n int) int {
	var x int
	switch {
	case c.i < len(c.v):
		x = c.v[c.i] % n
	case c.r != nil:
		x = c.r.IntN(n)
	}
	c.i++
	c.rec = append(c.rec, x)
	return x
}

func (c *pnList) exhausted() bool { return c.r == nil && c.i >= len(c.v) }

type pnKind int

const (
	pnLocal   pnKind = iota // a local action's completion: one of alts
	pnRetry                 // ask again (the peer was switching in)
	pnTimeout               // an RPC's deadline
	pnAgree                 // the standby's agree timer
)

// pnPending is something a node will do by itself later.
type pnPending struct {
	node, inc int
	kind      pnKind
	alts      []Event // pnLocal: alts[0] is the success
	need      int     // wait_catch_up: commits to apply before "caught up"
	rpc       int     // pnRetry, pnTimeout
	id        string  // pnAgree: the switch agreed to
}

// pnRPC is one open call of node (incarnation inc) to its peer.
type pnRPC struct {
	node, inc int
	act       Action // send_request, send_switch_out or query_peer
	id        string // the asker's switch id when asking
	epoch     uint64
	tick      bool // a FENCED re-query: an unreachable peer changes nothing
	done      bool
	retries   int // "ask again" answers so far (the query loop's budget)
}

// pnMsg is one message in flight.
type pnMsg struct {
	to    int
	ev    Event // a request (EvRequest, EvSwitchOut, EvAbort) or an answer
	rpc   int   // the RPC it belongs to (0: none)
	query bool  // a resolve question (ev.SwitchID)
	ans   bool  // an answer to rpc
	retry bool  // the answer says: ask again
	fail  bool  // the answer is an error: the RPC fails now
}

type pnNode struct {
	n     Node
	inc   int
	reqRP int // the RPC of the request being answered (in memory)
	soRP  int // the RPC of the SWITCH_OUT being answered
	// data: the commits in the node's database (one linear history:
	// the active writes, a node whose applier runs copies its peer's).
	data int
}

type pnet struct {
	cfg    pnConfig
	nodes  [2]pnNode
	net    []pnMsg
	pend   []pnPending
	rpcs   map[int]*pnRPC
	nrpc   int
	nsw    int
	trace  []string
	err    error
	healed bool
	quiet  bool // no trace (a sweep; a failure is replayed with it)
	// profile weighs the chaos (0: the default, which pinned schedules
	// use; the sweeps vary it by seed).
	profile int
	cov     map[string]int // accepted transitions (and a few situations), if set
	// resumed: switches after which a node went back to ACTIVE on its own
	// side (abort before step 4, or the peer's "will not promote"); the
	// peer must never switch in for one of them.
	resumed map[string]string
}

func newPnet(cfg pnConfig) *pnet {
	return &pnet{
		cfg:     cfg,
		nodes:   [2]pnNode{{n: Node{State: Active, Epoch: 1}}, {n: Node{State: Standby, Epoch: 1}}},
		rpcs:    map[int]*pnRPC{},
		resumed: map[string]string{},
	}
}

func pnName(i int) string { return [2]string{"node-a", "node-b"}[i] }

func (p *pnet) logf(format string, a ...any) {
	if p.quiet {
		return
	}
	p.trace = append(p.trace, fmt.Sprintf("%3d  ", len(p.trace))+fmt.Sprintf(format, a...))
}

func (p *pnet) fail(format string, a ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, a...)
		p.logf("!! %v", p.err)
	}
}

// pnTrace replays a recorded choice list with the trace on.
func pnTrace(cfg pnConfig, choices []int, profile int) string {
	p, _, err := pnRunProfile(cfg, &pnList{v: choices}, pnChaosSteps, false, profile)
	return fmt.Sprintf("%s\n=> %v", p.dump(), err)
}

func (p *pnet) show(i int) string {
	n := p.nodes[i].n
	return fmt.Sprintf("%s %s/e%d/%s", pnName(i), n.State, n.Epoch, n.SwitchID)
}

// step feeds e to node i, persists the result, checks safety, and performs
// the actions. It reports whether the event was accepted.
func (p *pnet) step(i int, e Event) bool {
	before := p.nodes[i].n
	next, acts, err := Step(before, e)
	if err != nil {
		p.logf("%s <- %s: rejected: %v", pnName(i), e, err)
		return false
	}
	p.nodes[i].n = next
	p.logf("%s <- %s: %s -> %s e%d %v", pnName(i), e, before.State, next.State, next.Epoch, acts)
	if p.cov != nil {
		p.cov[fmt.Sprintf("%s --%s--> %s", before.State, e.Kind, next.State)]++
	}
	p.checkTransition(i, before, next, e)
	p.checkPair()
	for _, a := range acts {
		p.perform(i, a)
	}
	return true
}

func (p *pnet) local(i int, alts ...Event) {
	p.pend = append(p.pend, pnPending{node: i, inc: p.nodes[i].inc, kind: pnLocal, alts: alts})
}

// call opens an RPC from node i and sends its first message.
func (p *pnet) call(i int, act Action, ev Event, query, tick bool) {
	p.nrpc++
	n := p.nodes[i].n
	p.rpcs[p.nrpc] = &pnRPC{node: i, inc: p.nodes[i].inc, act: act, id: n.SwitchID, epoch: n.Epoch, tick: tick}
	p.net = append(p.net, pnMsg{to: 1 - i, ev: ev, rpc: p.nrpc, query: query})
	p.pend = append(p.pend, pnPending{node: i, inc: p.nodes[i].inc, kind: pnTimeout, rpc: p.nrpc})
}

func (p *pnet) query(i int, tick bool) {
	p.call(i, ActQueryPeer, Event{SwitchID: p.nodes[i].n.SwitchID, Epoch: p.nodes[i].n.Epoch}, true, tick)
}

// answer sends node i's answer to RPC rpc (which may be gone).
func (p *pnet) answer(i, rpc int, ev Event) {
	p.net = append(p.net, pnMsg{to: 1 - i, ev: ev, rpc: rpc, ans: true})
}

// perform models action a of node i, right after its state was persisted.
func (p *pnet) perform(i int, a Action) {
	nd := &p.nodes[i]
	n := nd.n
	id := n.SwitchID
	switch a {
	case ActFence:
		// Fenced from REQUESTING_SWITCH on: the marker follows every
		// commit so far.
		p.local(i, Event{Kind: EvFenced, SwitchID: id, FenceLSN: fmt.Sprintf("%d/%s", nd.data, id)}, Event{Kind: EvFailed, SwitchID: id, Reason: "fence failed"})
	case ActSwitchOut:
		p.local(i, Event{Kind: EvSwitchedOut, SwitchID: id}, Event{Kind: EvFailed, SwitchID: id, Reason: "switch out failed"})
	case ActSwitchIn:
		p.local(i, Event{Kind: EvSwitchedIn, SwitchID: id, ReverseLSN: "R/" + id}, Event{Kind: EvFailed, SwitchID: id, Reason: "switch in failed"})
	case ActWaitCatchUp:
		var need int
		fmt.Sscanf(n.FenceLSN, "%d/", &need)
		p.local(i, Event{Kind: EvCaughtUp, SwitchID: id}, Event{Kind: EvCatchupTimeout, SwitchID: id, Reason: "catchup timeout"})
		p.pend[len(p.pend)-1].need = need
	case ActSendRequest:
		p.call(i, a, Event{Kind: EvRequest, SwitchID: id, Epoch: n.Epoch, FenceLSN: n.FenceLSN}, false, false)
	case ActSendSwitchOut:
		p.call(i, a, Event{Kind: EvSwitchOut, SwitchID: id, Epoch: n.Epoch}, false, false)
	case ActQueryPeer:
		p.query(i, false)
	case ActSendAbort:
		p.net = append(p.net, pnMsg{to: 1 - i, ev: Event{Kind: EvAbort, SwitchID: id, Reason: "the active abandoned the switchover"}})
	case ActReplyAgree:
		p.answer(i, nd.reqRP, Event{Kind: EvPeerAgreed, SwitchID: id})
		p.pend = append(p.pend, pnPending{node: i, inc: nd.inc, kind: pnAgree, id: id})
	case ActReplyRefuse:
		p.answer(i, nd.reqRP, Event{Kind: EvPeerRefused, SwitchID: id, Reason: "refused"})
	case ActReplyActive:
		p.answer(i, nd.soRP, Event{Kind: EvPeerActive, SwitchID: id, Epoch: n.Epoch, ReverseLSN: n.ReverseLSN})
	case ActFollow, ActRunApplier, ActResume, ActUnfenceWritable:
		// Level-triggered: no event comes back.
	default:
		panic("pairnet: unmodelled action " + string(a))
	}
}

// resolve is node i's onResolve for a question about switch id: the event
// for the asker, or ok false ("ask again": switching in, or the state
// changed to SWITCHING_IN/ACTIVE while resolving).
func (p *pnet) resolve(i int, id string, askerEpoch uint64) (Event, bool) {
	n := p.nodes[i].n
	if p.cfg.shipped {
		for range 2 {
			r := Resolve(p.nodes[i].n, id, askerEpoch)
			switch r.Outcome {
			case OutcomeActive:
				return Event{Kind: EvPeerActive, SwitchID: r.SwitchID, Epoch: r.Epoch, ReverseLSN: r.ReverseLSN}, true
			case OutcomeWillNotPromote:
				return Event{Kind: EvPeerWillNotPromote, SwitchID: r.SwitchID}, true
			case OutcomeAbortFirst:
				p.step(i, Event{Kind: EvAbort, SwitchID: id, Reason: "the active asked to resolve"})
				continue
			}
			return Event{}, false
		}
		return Event{}, false
	}
	if p.cfg.epochResolve && n.Epoch > askerEpoch {
		switch n.State {
		case Active, RequestingSwitch, SwitchingOut, Fenced:
			return Event{Kind: EvPeerActive, SwitchID: id, Epoch: n.Epoch, ReverseLSN: n.ReverseLSN}, true
		}
		return Event{}, false
	}
	switch {
	case n.SwitchID == id && n.State == SwitchingIn:
		return Event{}, false
	case n.State == Active && (!p.cfg.checkedResolve || n.SwitchID == id):
		return Event{Kind: EvPeerActive, SwitchID: id, Epoch: n.Epoch, ReverseLSN: n.ReverseLSN}, true
	case n.SwitchID == id && (n.State == AgreeSwitch || n.State == Standby) && !p.cfg.noAbortResolve:
		p.step(i, Event{Kind: EvAbort, SwitchID: id, Reason: "the active asked to resolve"})
	}
	n = p.nodes[i].n
	if n.State == SwitchingIn || n.State == Active {
		return Event{}, false
	}
	return Event{Kind: EvPeerWillNotPromote, SwitchID: id}, true
}

// deliver hands message k to its node (keeping a copy if dup).
func (p *pnet) deliver(k int, dup bool) {
	m := p.net[k]
	if dup {
		p.logf("net: duplicate %s -> %s", m.ev, pnName(m.to))
	} else {
		p.net = slices.Delete(p.net, k, k+1)
	}
	to := &p.nodes[m.to]
	switch {
	case m.query:
		ev, ok := p.resolve(m.to, m.ev.SwitchID, m.ev.Epoch)
		if ok {
			p.logf("%s answers query switch=%s: %s", pnName(m.to), m.ev.SwitchID, ev)
		} else {
			p.logf("%s answers query switch=%s: ask again", pnName(m.to), m.ev.SwitchID)
		}
		p.net = append(p.net, pnMsg{to: 1 - m.to, ev: ev, rpc: m.rpc, ans: true, retry: !ok})
	case m.ans:
		p.onAnswer(m)
	case m.ev.Kind == EvRequest, m.ev.Kind == EvSwitchOut:
		saveReq, saveSO := to.reqRP, to.soRP
		if m.ev.Kind == EvRequest {
			to.reqRP = m.rpc
		} else {
			to.soRP = m.rpc
		}
		if !p.step(m.to, m.ev) {
			to.reqRP, to.soRP = saveReq, saveSO
			// The handler returns an error: the caller's RPC fails now.
			p.net = append(p.net, pnMsg{to: 1 - m.to, ev: Event{Kind: "error"}, rpc: m.rpc, ans: true, fail: true})
		}
	default:
		p.step(m.to, m.ev)
	}
}

// live reports whether RPC r is still waited for.
func (p *pnet) live(r *pnRPC) bool {
	return r != nil && !r.done && p.nodes[r.node].inc == r.inc
}

func (p *pnet) onAnswer(m pnMsg) {
	r := p.rpcs[m.rpc]
	if !p.live(r) {
		if !p.cfg.lateAnswers || m.retry || m.fail || r == nil {
			p.logf("net: late answer %s to %s dropped (its RPC is over)", m.ev, pnName(m.to))
			return
		}
		p.logf("net: late answer %s to %s delivered anyway", m.ev, pnName(m.to))
		p.step(m.to, m.ev)
		return
	}
	switch {
	case m.retry:
		if r.retries++; r.retries > 4 {
			p.expire(m.rpc) // actQueryPeer's budget ran out
			return
		}
		p.pend = append(p.pend, pnPending{node: r.node, inc: r.inc, kind: pnRetry, rpc: m.rpc})
	case m.fail:
		p.expire(m.rpc)
	default:
		r.done = true
		if r.tick && m.ev.Kind != EvPeerActive && m.ev.Kind != EvPeerWillNotPromote {
			return
		}
		p.step(m.to, m.ev)
	}
}

// expire ends RPC rpc without an answer, as its caller does.
func (p *pnet) expire(rpc int) {
	r := p.rpcs[rpc]
	if !p.live(r) {
		return
	}
	r.done = true
	p.logf("%s: %s switch=%s gets no answer", pnName(r.node), r.act, r.id)
	switch {
	case r.tick:
	case r.act == ActSendRequest:
		p.step(r.node, Event{Kind: EvFailed, SwitchID: r.id, Reason: "no answer to the request"})
	case r.act == ActSendSwitchOut:
		// actSendSwitchOut: no clear answer, ask the peer what it did.
		p.query(r.node, false)
	case r.act == ActQueryPeer:
		p.step(r.node, Event{Kind: EvPeerUnreachable, SwitchID: r.id, Reason: "cannot learn whether the peer promoted"})
	}
}

// run does pending k (already removed from the list).
func (p *pnet) run(pd pnPending, alt int) {
	if pd.inc != p.nodes[pd.node].inc {
		return // the incarnation that started it crashed
	}
	switch pd.kind {
	case pnLocal:
		alt %= len(pd.alts)
		if alt == 0 && p.nodes[pd.node].data < pd.need {
			if !p.healed {
				p.pend = append(p.pend, pd) // not yet: the wait goes on
				return
			}
			p.replicate(pd.node) // a healed applier streams
			if p.nodes[pd.node].data < pd.need {
				p.fail("%s cannot catch up to %d commits (has %d, peer %d)", pnName(pd.node), pd.need, p.nodes[pd.node].data, p.nodes[1-pd.node].data)
				return
			}
		}
		p.step(pd.node, pd.alts[alt])
	case pnRetry:
		r := p.rpcs[pd.rpc]
		if p.live(r) {
			p.net = append(p.net, pnMsg{to: 1 - pd.node, ev: Event{SwitchID: r.id, Epoch: r.epoch}, rpc: pd.rpc, query: true})
		}
	case pnTimeout:
		p.expire(pd.rpc)
	case pnAgree:
		n := p.nodes[pd.node].n
		if n.State == AgreeSwitch && n.SwitchID == pd.id {
			p.step(pd.node, Event{Kind: EvAgreeTimeout, SwitchID: pd.id, Reason: "no SWITCH_OUT after agreeing"})
		}
	}
}

func (p *pnet) restart(i int) {
	p.nodes[i].inc++
	p.nodes[i].reqRP, p.nodes[i].soRP = 0, 0
	p.logf("%s crashes and restarts", pnName(i))
	p.step(i, Event{Kind: EvRestart})
}

// tick: the daemon's reconcile loop re-asks the peer while FENCED.
func (p *pnet) tick(i int) bool {
	if p.nodes[i].n.State != Fenced {
		return false
	}
	for _, r := range p.rpcs {
		if p.live(r) && r.node == i && r.act == ActQueryPeer {
			return false // one query at a time
		}
	}
	p.logf("%s: FENCED, asks the peer again", pnName(i))
	p.query(i, true)
	return true
}

// replicate: node i's applier, if it runs, copies the peer's commits.
func (p *pnet) replicate(i int) {
	me, peer := &p.nodes[i], p.nodes[1-i]
	if WantOf(me.n.State).Applier == Present && me.data < peer.data {
		me.data = peer.data
		p.logf("%s: the applier has replayed %d commits", pnName(i), me.data)
	}
}

// ── safety ────────────────────────────────────────────────────────────

// mayWrite: the node's database takes writes, or is about to (SWITCHING_IN
// is making itself writable and binding the VIP).
func mayWrite(s State) bool { return s == Active || s == SwitchingIn }

func (p *pnet) checkTransition(i int, before, next Node, e Event) {
	switch {
	case next.Epoch < before.Epoch:
		p.fail("%s: epoch went back %d -> %d on %s", pnName(i), before.Epoch, next.Epoch, e)
	case next.Epoch > before.Epoch && !(e.Kind == EvSwitchedIn && next.Epoch == before.Epoch+1) &&
		!(e.Kind == EvPeerActive && next.Epoch == p.nodes[1-i].n.Epoch):
		p.fail("%s: epoch went %d -> %d on %s (peer in %d)", pnName(i), before.Epoch, next.Epoch, e, p.nodes[1-i].n.Epoch)
	}
	// §3 invariant: no acknowledged commit on the old active is missing on
	// the new active (and the old one follows without a gap).
	mine, peers := p.nodes[i].data, p.nodes[1-i].data
	switchedIn := before.State == SwitchingIn && next.State == Active
	follows := before.State != Standby && next.State == Standby && e.Kind == EvPeerActive
	if (switchedIn && mine < peers) || (follows && mine > peers) {
		p.fail("%s: %s -> %s with %d commits, its peer has %d", pnName(i), before.State, next.State, mine, peers)
	}
	if next.State == Standby && e.Kind == EvPeerActive {
		p.nodes[i].data = p.nodes[1-i].data // follows from the reverse slot
	}
	if before.State == SwitchingIn && next.State != SwitchingIn && next.State != Active {
		p.fail("%s left SWITCHING_IN for %s on %s", pnName(i), next.State, e)
	}
	// §3: a standby that has bound the VIP never gives it back except
	// through a new handshake.
	if before.State == Active && next.State != Active && next.State != RequestingSwitch {
		p.fail("%s left ACTIVE for %s on %s", pnName(i), next.State, e)
	}
	// §3 failure rules: back to ACTIVE on the active side means the
	// switchover is over and the peer will not promote in it.
	if next.State == Active && (before.State == RequestingSwitch || before.State == SwitchingOut || before.State == Fenced) {
		p.resumed[before.SwitchID] = pnName(i)
	}
	if next.State == SwitchingIn && before.State != SwitchingIn {
		if who, ok := p.resumed[next.SwitchID]; ok {
			p.fail("%s switches in for %s, after %s resumed ACTIVE for it", pnName(i), next.SwitchID, who)
		}
	}
}

// checkPair: what SPEC §3 promises of the pair at every moment.
func (p *pnet) checkPair() {
	a, b := p.nodes[0].n, p.nodes[1].n
	if mayWrite(a.State) && mayWrite(b.State) {
		p.fail("both may take writes: %s and %s", p.show(0), p.show(1))
	}
	if MayHoldVIP(a.State) && MayHoldVIP(b.State) {
		p.fail("VIP wanted on both: %s and %s", p.show(0), p.show(1))
	}
	// The active is the newest: a node that is ACTIVE in an older epoch
	// than its peer's has been superseded without knowing it.
	for i := range 2 {
		me, peer := p.nodes[i].n, p.nodes[1-i].n
		if me.State == Active && me.Epoch < peer.Epoch {
			p.fail("stale active: %s, peer %s", p.show(i), p.show(1-i))
		}
	}
}

// ── the schedule ──────────────────────────────────────────────────────

// chaos does one random thing; it may find nothing to do.
func (p *pnet) chaos(c chooser) {
	switch p.pickCase(c) {
	case 28, 29:
		for i := range 2 {
			if p.nodes[i].n.State == Active {
				p.nodes[i].data++
				p.logf("%s: a client commits (%d)", pnName(i), p.nodes[i].data)
			}
		}
	case 30, 31:
		p.replicate(c.pick(2))
	case 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11:
		if len(p.net) == 0 {
			return
		}
		k := c.pick(len(p.net))
		switch c.pick(8) {
		case 0:
			p.logf("net: drop %s -> %s", p.net[k].ev, pnName(p.net[k].to))
			p.net = slices.Delete(p.net, k, k+1)
		case 1:
			p.deliver(k, true)
		default:
			p.deliver(k, false)
		}
	case 12, 13, 14, 15, 16, 17, 18, 19:
		p.runPending(c, pnLocal, pnRetry)
	case 20, 21:
		p.runPending(c, pnTimeout, pnAgree)
	case 22:
		p.restart(c.pick(2))
	case 23, 24:
		for i := range 2 {
			if p.nodes[i].n.State == Active {
				if peer := p.nodes[1-i].n; p.cfg.gatedPromote && (peer.State != Standby || peer.Epoch != p.nodes[i].n.Epoch) {
					p.logf("operator: promote on %s refused (peer %s)", pnName(i), p.nodes[1-i].n.State)
					return
				}
				p.nsw++
				p.logf("operator: promote on %s", pnName(i))
				p.step(i, Event{Kind: EvPromote, SwitchID: fmt.Sprintf("sw%d", p.nsw)})
				return
			}
		}
	case 25:
		if c.pick(4) != 0 {
			return // faults are rarer than the rest
		}
		i := c.pick(2)
		switch p.nodes[i].n.State {
		case Standby, AgreeSwitch:
			p.step(i, Event{Kind: EvLocalFault, Reason: "lag"})
		case Fault:
			if c.pick(2) == 0 {
				p.step(i, Event{Kind: EvFaultCleared})
			} else {
				p.step(i, Event{Kind: EvLocalFault, Reason: "schema"})
			}
		}
	case 26:
		for i := range 2 {
			if n := p.nodes[i].n; n.State == AgreeSwitch {
				p.step(i, Event{Kind: EvAgreeTimeout, SwitchID: n.SwitchID, Reason: "no SWITCH_OUT after agreeing"})
			}
		}
	case 27:
		p.tick(c.pick(2))
	}
}

// pnProfiles weigh the chaos's kinds of steps: messages, local
// completions, timers, restarts, promotes, faults, agree timeouts, FENCED
// ticks, client commits, applier progress. Profile 0 is pick(32) itself.
var pnProfiles = [][10]int{
	{12, 8, 2, 1, 2, 1, 1, 1, 2, 2},
	{12, 8, 1, 0, 2, 0, 0, 1, 2, 2}, // calm: deep switchovers
	{10, 6, 6, 1, 2, 0, 1, 1, 1, 2}, // timers fire early
	{10, 6, 2, 4, 2, 1, 1, 1, 1, 1}, // crashes
}

var pnCaseOf = [10]int{0, 12, 20, 22, 23, 25, 26, 27, 28, 30}

func (p *pnet) pickCase(c chooser) int {
	if p.profile == 0 {
		return c.pick(32)
	}
	w := pnProfiles[p.profile]
	sum := 0
	for _, x := range w {
		sum += x
	}
	k := c.pick(sum)
	for i, x := range w {
		if k < x {
			return pnCaseOf[i]
		}
		k -= x
	}
	panic("unreachable")
}

// runPending runs a random pending of the given kinds (a local completion
// with a random outcome).
func (p *pnet) runPending(c chooser, kinds ...pnKind) {
	var ks []int
	for k, pd := range p.pend {
		if slices.Contains(kinds, pd.kind) {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return
	}
	k := ks[c.pick(len(ks))]
	pd := p.pend[k]
	p.pend = slices.Delete(p.pend, k, k+1)
	alt := 0
	if pd.kind == pnLocal {
		alt = c.pick(len(pd.alts))
	}
	p.run(pd, alt)
}

// heal: no more drops, both nodes up, no promotes or faults (a FAULT is
// cleared); messages first, then local steps (which succeed), then timers;
// FENCED asks again when nothing else happens. It returns the number of
// steps until the pair rested, or an error.
func (p *pnet) heal(max int) (int, error) {
	p.healed = true
	p.logf("── network healed ──")
	for i := range 2 {
		if p.nodes[i].n.State == Fault {
			p.step(i, Event{Kind: EvFaultCleared})
		}
	}
	ticks := 0
	for s := range max {
		if p.err != nil {
			return s, p.err
		}
		if len(p.net) > 0 {
			p.deliver(0, false)
			continue
		}
		if k := p.firstPending(pnLocal, pnRetry); k >= 0 {
			pd := p.pend[k]
			p.pend = slices.Delete(p.pend, k, k+1)
			p.run(pd, 0)
			continue
		}
		if k := p.firstPending(pnTimeout, pnAgree); k >= 0 {
			pd := p.pend[k]
			p.pend = slices.Delete(p.pend, k, k+1)
			p.run(pd, 0)
			continue
		}
		if p.tick(0) || p.tick(1) {
			if ticks++; ticks > 10 {
				return s, fmt.Errorf("stays FENCED: asked the peer 10 times on a healed network: %s, %s", p.show(0), p.show(1))
			}
			continue
		}
		a, b := p.nodes[0].n.State, p.nodes[1].n.State
		if (a == Active && b == Standby) || (a == Standby && b == Active) {
			return s, nil
		}
		return s, fmt.Errorf("quiescent but not ACTIVE+STANDBY: %s, %s", p.show(0), p.show(1))
	}
	return max, fmt.Errorf("not quiescent after %d healed steps: %s, %s", max, p.show(0), p.show(1))
}

func (p *pnet) firstPending(kinds ...pnKind) int {
	for k, pd := range p.pend {
		if slices.Contains(kinds, pd.kind) {
			return k
		}
	}
	return -1
}

func (p *pnet) dump() string { return strings.Join(p.trace, "\n") }

const (
	pnChaosSteps = 120
	pnHealMax    = 400
)

// pnRun runs one schedule: chaos steps (until the chooser is exhausted, if
// it can be), then the healed network. It returns the pair and the first
// failure, and the healed step count.
func pnRun(cfg pnConfig, c chooser, chaosSteps int) (*pnet, int, error) {
	return pnRunProfile(cfg, c, chaosSteps, false, 0)
}

func pnRunProfile(cfg pnConfig, c chooser, chaosSteps int, quiet bool, profile int) (*pnet, int, error) {
	p := newPnet(cfg)
	p.quiet, p.profile = quiet, profile
	for s := range chaosSteps {
		if l, ok := c.(*pnList); ok && l.exhausted() {
			break
		}
		p.chaos(c)
		if p.err != nil {
			return p, 0, fmt.Errorf("safety, chaos step %d: %w", s, p.err)
		}
	}
	n, err := p.heal(pnHealMax)
	if err != nil {
		if p.err != nil {
			return p, n, fmt.Errorf("safety, healed step %d: %w", n, err)
		}
		return p, n, fmt.Errorf("liveness: %w", err)
	}
	return p, n, nil
}

// pnMinimise shrinks a failing choice list: it drops chunks while the run
// still fails the same way (same kind: safety or liveness).
func pnMinimise(cfg pnConfig, choices []int, chaosSteps, profile int, same func(error) bool) []int {
	fails := func(v []int) bool {
		_, _, err := pnRunProfile(cfg, &pnList{v: v}, chaosSteps, true, profile)
		return err != nil && same(err)
	}
	if !fails(choices) {
		return choices
	}
	for chunk := len(choices) / 2; chunk >= 1; chunk /= 2 {
		for i := 0; i+chunk <= len(choices); {
			try := append(slices.Clone(choices[:i]), choices[i+chunk:]...)
			if fails(try) {
				choices = try
			} else {
				i += chunk
			}
		}
	}
	// Then make each choice as small as possible.
	for i := range choices {
		for v := 0; v < choices[i]; v++ {
			try := slices.Clone(choices)
			try[i] = v
			if fails(try) {
				choices = try
				break
			}
		}
	}
	return choices
}

// ── the tests ─────────────────────────────────────────────────────────

// pnSeeds: PAIRMODEL_SEED=n replays one seed (with its trace, under -v);
// otherwise seeds 1..n (n/5 with -short; PAIRMODEL_SEEDS=m runs 1..m).
func pnSeeds(t *testing.T, n int) ([]uint64, bool) {
	if s := os.Getenv("PAIRMODEL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PAIRMODEL_SEED: %v", err)
		}
		return []uint64{v}, true
	}
	if s := os.Getenv("PAIRMODEL_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("PAIRMODEL_SEEDS: %v", err)
		}
		n = v
	} else if testing.Short() {
		n /= 5
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds, false
}

func pnIsSafety(err error) bool   { return strings.HasPrefix(err.Error(), "safety") }
func pnIsLiveness(err error) bool { return strings.HasPrefix(err.Error(), "liveness") }

// pnSweep runs the seeds in cfg and returns the failures by kind; the first
// failure of each kind is minimised and reported through report.
func pnSweep(t *testing.T, cfg pnConfig, n int, report func(kind string, seed uint64, err error, full, minimal string)) (safety, liveness int, maxHealed int) {
	seeds, replay := pnSeeds(t, n)
	reported := map[string]bool{}
	for _, seed := range seeds {
		c := &pnList{r: rand.New(rand.NewPCG(seed, 0x9a17))}
		profile := int(seed % uint64(len(pnProfiles)))
		p, healed, err := pnRunProfile(cfg, c, pnChaosSteps, !replay, profile)
		maxHealed = max(maxHealed, healed)
		if replay {
			t.Logf("%s seed %d: %v\n%s", cfg, seed, err, p.dump())
		}
		if err == nil {
			continue
		}
		kind, same := "safety", pnIsSafety
		if pnIsLiveness(err) {
			kind, same = "liveness", pnIsLiveness
			liveness++
		} else {
			safety++
		}
		if reported[kind] {
			continue
		}
		reported[kind] = true
		full := pnTrace(cfg, c.rec, profile)
		min := pnMinimise(cfg, c.rec, pnChaosSteps, profile, same)
		report(kind, seed, fmt.Errorf("%v (profile %d, minimised to %d choices: %v)", err, profile, len(min), min), full, pnTrace(cfg, min, profile))
	}
	return safety, liveness, maxHealed
}

// TestPairNet: thousands of random schedules on a network that drops,
// duplicates, delays and reorders, with restarts, faults and promotes:
// safety after every Step, and ACTIVE+STANDBY after healing. The worlds:
// the daemon as it is (resolve answers "active" for any ACTIVE peer,
// promote gated by daemon.preconditions), with and without late answers;
// and the epoch-aware resolve with promotes fed whenever a node is ACTIVE
// (see TestPairNetResolveAfterPeerPromoted for why today's resolve needs
// the gate).
func TestPairNet(t *testing.T) {
	for _, cfg := range []pnConfig{
		// What ships: handshake.Resolve, promotes fed whenever a node is
		// ACTIVE (no help from the daemon's preconditions), and gated.
		{shipped: true},
		{shipped: true, lateAnswers: true},
		{shipped: true, gatedPromote: true},
		{gatedPromote: true},
		{gatedPromote: true, lateAnswers: true},
		{epochResolve: true},
		{epochResolve: true, lateAnswers: true},
		{epochResolve: true, checkedResolve: true},
	} {
		t.Run(cfg.String(), func(t *testing.T) {
			s, l, mh := pnSweep(t, cfg, 1500, func(kind string, seed uint64, err error, full, minimal string) {
				t.Errorf("%s failure, seed %d (PAIRMODEL_SEED=%d): %v\nfull trace:\n%s\nminimised trace:\n%s", kind, seed, seed, err, full, minimal)
			})
			if s+l > 0 {
				t.Errorf("%d safety and %d liveness failures", s, l)
			}
			t.Logf("healed runs rested within %d steps", mh)
		})
	}
}

// TestPairNetCheckedResolve: the variant where resolve answers "active"
// only for the switch asked about. Safety must hold as well.
func TestPairNetCheckedResolve(t *testing.T) {
	for _, cfg := range []pnConfig{
		{checkedResolve: true, gatedPromote: true},
		{checkedResolve: true, gatedPromote: true, lateAnswers: true},
	} {
		t.Run(cfg.String(), func(t *testing.T) {
			s, l, _ := pnSweep(t, cfg, 1500, func(kind string, seed uint64, err error, full, minimal string) {
				t.Errorf("%s failure, seed %d (PAIRMODEL_SEED=%d): %v\nfull trace:\n%s\nminimised trace:\n%s", kind, seed, seed, err, full, minimal)
			})
			if s+l > 0 {
				t.Errorf("%d safety and %d liveness failures", s, l)
			}
		})
	}
}

// FuzzPairNet: the input bytes drive the choices (chaos until they run
// out, then the healed network). (FuzzPair is pair_model_test.go's.)
func FuzzPairNet(f *testing.F) {
	// (Choices as chaos reads them: 23 promote, 12 a local completion,
	// 0 a message, 20 a timer, 22 a restart, 28 a commit, 30 the applier,
	// 27 a FENCED tick; each followed by its own picks.)
	// A planned switchover, every step succeeding.
	f.Add([]byte{23, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 2})
	// A commit, the applier catching up, then the old active crashing
	// while the standby switches in.
	f.Add([]byte{28, 23, 12, 0, 0, 0, 0, 2, 12, 0, 0, 30, 1, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 2, 22, 0, 0, 0, 2, 12, 0, 0})
	// SWITCH_OUT lost and the agreed standby restarting: resolve, resume.
	f.Add([]byte{23, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 2, 22, 1, 27, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := make([]int, len(b))
		for i, x := range b {
			v[i] = int(x)
		}
		// The first byte's high bits pick the world: today's daemon
		// (promote gated by its preconditions) or the epoch-aware resolve
		// with ungated promotes; with or without late answers.
		cfg := pnConfig{shipped: true}
		if len(b) > 0 {
			cfg.lateAnswers = b[0]&0x80 != 0
			cfg.gatedPromote = b[0]&0x40 != 0
		}
		p, _, err := pnRun(cfg, &pnList{v: v}, 400)
		if err != nil {
			t.Fatalf("%s: %v\n%s", cfg, err, p.dump())
		}
	})
}

// TestPairNetResolveAfterPeerPromoted pins what the model found: Step and
// onResolve alone do not keep the pair safe when the new active starts its
// own switchover before the old one learnt the outcome. node-a is in
// SWITCHING_OUT for sw1 (the answer to SWITCH_OUT was lost), node-b
// switched in (ACTIVE, epoch 2) and is promoted again (REQUESTING_SWITCH
// sw2, VIP still bound); node-a asks about sw1 and onResolve, seeing
// neither SWITCHING_IN nor ACTIVE, answers "will not promote": node-a
// unfences and binds the VIP in epoch 1 while node-b holds it in epoch 2,
// and node-b goes back to ACTIVE when its request fails. Today only
// daemon.preconditions (peer STANDBY in the same epoch) keeps the operator
// from promoting node-b there; the epoch-aware resolve (epochResolve)
// closes it in the protocol itself.
func TestPairNetResolveAfterPeerPromoted(t *testing.T) {
	// promote a; fence; deliver the request; catch up; deliver the agree;
	// switch out; duplicate SWITCH_OUT to b; switch in; drop the answer;
	// promote b; then heal.
	schedule := []int{23, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 1, 0, 0, 1, 12, 0, 0, 23}
	for _, tc := range []struct {
		cfg  pnConfig
		want string // "" : no failure
	}{
		{pnConfig{}, "VIP wanted on both"},
		{pnConfig{checkedResolve: true}, "VIP wanted on both"},
		{pnConfig{gatedPromote: true}, ""},
		{pnConfig{epochResolve: true}, ""},
		{pnConfig{shipped: true}, ""},
	} {
		p, _, err := pnRun(tc.cfg, &pnList{v: schedule}, pnChaosSteps)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v\n%s", tc.cfg, err, p.dump())
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: want a failure %q, got %v\n%s", tc.cfg, tc.want, err, p.dump())
		}
	}
}

// TestPairNetCheckedResolveStuck pins why resolve must not check the switch
// id of an ACTIVE peer (as long as promotes are not gated): node-b switched
// in for sw1, the answer was lost, and node-b then started and abandoned
// sw2, so its record says sw2; node-a asks about sw1, a switch-id-checked
// resolve never says "active", and node-a stays FENCED on a healed
// network. Today's unchecked answer lets node-a follow.
func TestPairNetCheckedResolveStuck(t *testing.T) {
	schedule := []int{23, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 0, 23}
	p, _, err := pnRun(pnConfig{checkedResolve: true}, &pnList{v: schedule}, pnChaosSteps)
	if err == nil || !strings.Contains(err.Error(), "stays FENCED") {
		t.Errorf("checked resolve: want node-a to stay FENCED, got %v\n%s", err, p.dump())
	}
	p, _, err = pnRun(pnConfig{}, &pnList{v: schedule}, pnChaosSteps)
	if err != nil {
		t.Errorf("unchecked resolve: %v\n%s", err, p.dump())
	}
	// What ships names the switchover that promoted node-b (kept while it
	// tried sw2): node-a follows.
	p, _, err = pnRun(pnConfig{shipped: true}, &pnList{v: schedule}, pnChaosSteps)
	if err != nil {
		t.Errorf("shipped resolve: %v\n%s", err, p.dump())
	}
}

// TestPairNetCatchesBrokenResolve shows that the model has teeth: an
// onResolve that answers "will not promote" without abandoning the
// switchover first lets the agreed standby switch in on a late SWITCH_OUT
// after the old active resumed (found by the sweep, seed 1024, minimised).
func TestPairNetCatchesBrokenResolve(t *testing.T) {
	schedule := []int{23, 12, 0, 0, 0, 0, 2, 12, 0, 0, 0, 0, 2, 12, 0, 0, 20, 2, 0, 1, 1, 0, 0, 1}
	p, _, err := pnRun(pnConfig{gatedPromote: true, noAbortResolve: true}, &pnList{v: schedule}, pnChaosSteps)
	if err == nil || !pnIsSafety(err) {
		t.Errorf("broken resolve: want a safety failure, got %v\n%s", err, p.dump())
	}
	p, _, err = pnRun(pnConfig{gatedPromote: true}, &pnList{v: schedule}, pnChaosSteps)
	if err != nil {
		t.Errorf("real resolve: %v\n%s", err, p.dump())
	}
}

// TestPairNetCoverage: the sweep reaches every edge of the table (else the
// model no longer drives the protocol where it matters).
func TestPairNetCoverage(t *testing.T) {
	cov := map[string]int{}
	const seeds = 1500 // also with -short: it takes a tenth of a second
	for seed := range uint64(seeds) {
		p := newPnet(pnConfig{gatedPromote: true})
		p.quiet, p.cov, p.profile = true, cov, int(seed%uint64(len(pnProfiles)))
		c := randChooser{rand.New(rand.NewPCG(seed, 0x9a17))}
		for range pnChaosSteps {
			p.chaos(c)
		}
		p.heal(pnHealMax)
	}
	for _, tr := range table {
		if quorumEdge(tr) {
			continue // TestQuorumModelCoverage's
		}
		if k := fmt.Sprintf("%s --%s--> %s", tr.from, tr.on, tr.to); cov[k] == 0 {
			t.Errorf("never taken in %d schedules: %s", seeds, k)
		}
	}
}
