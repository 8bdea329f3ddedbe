package handshake

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The quorum model: the unplanned failover's rows (SPEC §9) driven through
// Step with an etcd of its own in memory — a leader key bound to a lease
// that expires, an epoch key that only grows, transactions that compare
// them — on a clock, with every link between node-a, node-b and etcd cut
// and healed at random, requests and answers lost, daemons restarted from
// their record, and hosts lost and rebooted. After every step it checks:
// never two nodes whose databases take writes, never the VIP on both live
// hosts, no epoch going back, and the key's epoch never behind a node's.
//
// The timing is the real one: a holder fences itself when its last
// successful renewal was sent 2/3 of the TTL ago (its timer fires on time
// while its daemon lives); etcd expires a lease a TTL after it received
// the last renewal. A daemon killed on a host that stays up keeps its
// database writable: the model then keeps that host's link to the peer up
// until the daemon is back, because the peer's takeover fences the old
// database through it (a host cut off with a dead daemon is a host lost,
// or needs a watchdog, which pgswitch does not provide; README).

const (
	qmTTL      = 3000 // ms
	qmFenceAt  = qmTTL * 2 / 3
	qmEtcdNode = 2 // the third party of the links
	qmMaxDelay = 400
)

type qmLease struct {
	expiry int
	live   bool
}

type qmEtcd struct {
	keyHolder int // -1: no key
	keyEpoch  uint64
	keyLease  int
	// The epoch key (no lease): the highest epoch ever taken and who took
	// it. Without it a claim whose answer was lost, and whose lease then
	// expired, could never be finished (the claimant is still in the
	// epoch before), and a holder could regain the key in an epoch
	// someone else has moved past.
	epoch      uint64
	epochOwner int
	// rev counts the leader key's creations; a claim compares the one it
	// read when it decided, so a claim delivered late, after the key was
	// created and lost again (its claimant gave up), never succeeds.
	rev    int
	leases []qmLease
}

type qmNode struct {
	n        Node
	inc      int
	alive    bool // the daemon runs
	hostUp   bool // the host (and its database) runs
	writable bool // the database takes writes
	vip      bool
	lease    int // -1: none known to the daemon
	lastSent int // send time of the last successful renewal (or grant)
	since    int // when the daemon last started
	// vipReleased: the planned switch-out released the VIP.
	vipReleased bool
	// rate is how fast this node's monotonic clock runs against etcd's
	// (per mille): its timers measure their durations on it.
	rate int
	// Failsafe mode (SPEC §9 rule 2): the standby's last successful read
	// of etcd and the end of its promise not to take over; the active's
	// end of serving on such a promise and its last request for one.
	lastRead, promisedUntil int
	failsafeUntil, lastAsk  int
}

// qmRPC is one request to etcd (and its answer on the way back).
type qmRPC struct {
	node, inc int
	kind      string // renew, hold, read, claim
	sent      int
	answered  bool // the request was processed; the answer is on the way
	ans       Event
	lease     int
	rev       int // a claim: the key's creations when it was decided
	owner     int // a read: who took the epoch key's epoch
	epoch     uint64
	promised  bool // a failsafe request (to the peer, not etcd): its answer
}

type qmodel struct {
	now    int
	etcd   qmEtcd
	nodes  [2]qmNode
	up     map[[2]int]bool // links: {0,1}, {0,2}, {1,2}
	rpcs   []*qmRPC
	nextSw int
	trace  []string
	err    error
	cov    map[string]int
	// lagging: the standby's proofs fail (a takeover is refused);
	// lateFence: a broken holder that fences itself only after the TTL.
	lagging   bool
	lateFence bool
	healing   bool // local steps no longer fail
	// servedOnPromise counts the times a holder's lease deadline passed
	// while it served on a promise; breakPromise makes the standby ignore
	// its promises (a broken failsafe, for the teeth test).
	servedOnPromise int
	breakPromise    bool
}

func newQModel() *qmodel {
	m := &qmodel{up: map[[2]int]bool{{0, 1}: true, {0, 2}: true, {1, 2}: true}}
	m.etcd = qmEtcd{keyHolder: 0, keyEpoch: 1, keyLease: 0, epoch: 1, epochOwner: 0, leases: []qmLease{{expiry: qmTTL, live: true}}}
	m.nodes[0] = qmNode{n: Node{State: Active, Epoch: 1}, alive: true, hostUp: true, writable: true, vip: true, lease: 0}
	m.nodes[1] = qmNode{n: Node{State: Standby, Epoch: 1}, alive: true, hostUp: true, lease: -1}
	return m
}

func link(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

func (m *qmodel) logf(format string, a ...any) {
	m.trace = append(m.trace, fmt.Sprintf("%6d ", m.now)+fmt.Sprintf(format, a...))
}

func (m *qmodel) fail(format string, a ...any) {
	if m.err == nil {
		m.err = fmt.Errorf(format, a...)
		m.logf("FAIL: %v", m.err)
	}
}

// step feeds e to node i and performs the actions.
func (m *qmodel) step(i int, e Event) {
	e.Quorum = true
	nd := &m.nodes[i]
	before := nd.n
	next, acts, err := Step(before, e)
	if err != nil {
		m.logf("%s %s: rejected: %v", name(i), e, err)
		return
	}
	if m.cov != nil {
		m.cov[fmt.Sprintf("%s --%s--> %s", before.State, e.Kind, next.State)]++
	}
	if next.Epoch < before.Epoch {
		m.fail("safety: %s's epoch went back from %d to %d", name(i), before.Epoch, next.Epoch)
	}
	nd.n = next
	m.logf("%s %s: %s -> %s epoch=%d %v", name(i), e, before.State, next.State, next.Epoch, acts)
	m.want(i)
	for _, a := range acts {
		m.perform(i, a)
	}
}

// want applies what the state wants of the database and the VIP, as the
// daemon's reconcile loop does.
func (m *qmodel) want(i int) {
	nd := &m.nodes[i]
	w := WantOf(nd.n.State)
	switch w.Clients {
	case ClientsWritable:
		nd.writable = nd.hostUp
	case ClientsReadOnly, ClientsFenced:
		nd.writable = false
	}
	switch w.VIP {
	case Present:
		nd.vip = nd.hostUp
	case Absent:
		nd.vip = false
	}
}

func (m *qmodel) perform(i int, a Action) {
	nd := &m.nodes[i]
	switch a {
	case ActSelfFence:
		nd.writable, nd.vip = false, false
	case ActUnfenceWritable:
		nd.writable = true
	case ActResume:
		nd.vip = true
	case ActHoldLease:
		m.send(i, "hold")
	case ActClaimLeader:
		m.send(i, "claim")
	case ActFence:
		nd.writable, nd.vipReleased = false, false
	}
	// ActTakeOver runs when the daemon next polls (takeOver): a restart or
	// a lost lease can come between.
}

// takeOver is the takeover's work: fence the old database if it answers,
// then writable, the VIP, and the event; or a failure, retried.
func (m *qmodel) takeOver(i int, fail bool) {
	nd := &m.nodes[i]
	if fail {
		m.step(i, Event{Kind: EvFailed, SwitchID: nd.n.SwitchID, Reason: "vip"})
		return
	}
	o := 1 - i
	if m.up[link(0, 1)] && m.nodes[o].hostUp {
		m.nodes[o].writable = false
		m.logf("%s fences %s's database", name(i), name(o))
	} else {
		m.logf("%s: %s's database does not answer", name(i), name(o))
	}
	m.check()
	nd.writable, nd.vip = true, true
	m.step(i, Event{Kind: EvTakenOver, SwitchID: nd.n.SwitchID, ReverseLSN: "0/1"})
}

// send starts a request; like the daemon, a node has at most one of each
// kind outstanding (the next one waits for the answer, or for the loss
// that a timeout stands for).
func (m *qmodel) send(i int, kind string) {
	for _, r := range m.rpcs {
		if r.node == i && r.inc == m.nodes[i].inc && r.kind == kind {
			return
		}
	}
	m.rpcs = append(m.rpcs, &qmRPC{node: i, inc: m.nodes[i].inc, kind: kind, sent: m.now, rev: m.etcd.rev, lease: m.nodes[i].lease, epoch: m.nodes[i].n.Epoch})
}

// expire ends the leases etcd no longer holds, and their keys.
func (m *qmodel) expire() {
	for id := range m.etcd.leases {
		l := &m.etcd.leases[id]
		if l.live && m.now >= l.expiry {
			l.live = false
			if m.etcd.keyHolder >= 0 && m.etcd.keyLease == id {
				m.logf("etcd: the lease of %s expires, the leader key is gone", name(m.etcd.keyHolder))
				m.etcd.keyHolder = -1
			}
		}
	}
}

func (m *qmodel) grant() int {
	m.etcd.leases = append(m.etcd.leases, qmLease{expiry: m.now + qmTTL, live: true})
	return len(m.etcd.leases) - 1
}

// process is etcd receiving request r now.
func (m *qmodel) process(r *qmRPC) {
	e := &m.etcd
	nd := &m.nodes[r.node]
	r.answered = true
	switch r.kind {
	case "renew":
		l := &e.leases[r.lease]
		switch {
		case l.live:
			l.expiry = m.now + qmTTL
			r.ans = Event{Kind: EvLeaseHeld, Epoch: e.keyEpoch}
		case e.epoch > nd.n.Epoch:
			r.ans = Event{Kind: EvNewLeader, Epoch: e.epoch, Reason: "another_leader"}
		default:
			r.ans = Event{Kind: EvLeaseLost, Reason: "lease_gone"}
		}
	case "hold":
		// Regain the key at the node's own epoch, never a later one: a
		// new lease; the key kept (or created when absent) only while the
		// epoch key says no one took a later epoch.
		switch {
		case e.epoch != nd.n.Epoch || e.epochOwner != r.node || (e.keyHolder >= 0 && e.keyHolder != r.node):
			r.ans = Event{Kind: EvNewLeader, Epoch: e.epoch, Reason: "another_leader"}
		default:
			r.lease = m.grant()
			e.keyHolder, e.keyEpoch, e.keyLease = r.node, nd.n.Epoch, r.lease
			e.rev++
			r.ans = Event{Kind: EvLeaseHeld, Epoch: nd.n.Epoch}
		}
	case "read":
		switch {
		case e.keyHolder < 0:
			r.ans = Event{Kind: EvLeaderGone, Epoch: e.epoch}
			r.owner = e.epochOwner
		case e.keyHolder != r.node && e.keyEpoch > nd.n.Epoch:
			r.ans = Event{Kind: EvNewLeader, Epoch: e.keyEpoch}
		}
	case "claim":
		switch {
		case e.keyHolder == r.node && e.keyEpoch == nd.n.Epoch+1:
			// A claim repeated (its answer lost, or after a restart):
			// rebind to a new lease.
			r.lease = m.grant()
			e.keyLease = r.lease
			e.rev++
			r.ans = Event{Kind: EvLeaderTaken, Epoch: e.keyEpoch}
		case e.keyHolder < 0 && e.rev == r.rev && (e.epoch == nd.n.Epoch || (e.epoch == nd.n.Epoch+1 && e.epochOwner == r.node)):
			r.lease = m.grant()
			e.keyHolder, e.keyEpoch, e.keyLease = r.node, nd.n.Epoch+1, r.lease
			e.epoch, e.epochOwner = nd.n.Epoch+1, r.node
			e.rev++
			r.ans = Event{Kind: EvLeaderTaken, Epoch: e.epoch}
		default:
			r.ans = Event{Kind: EvClaimFailed}
		}
	}
	m.logf("etcd: %s from %s (incarnation %d, sent %d) -> %s", r.kind, name(r.node), r.inc, r.sent, r.ans.Kind)
}

// answer delivers r's answer to its node.
func (m *qmodel) answer(r *qmRPC) {
	nd := &m.nodes[r.node]
	ev := r.ans
	if r.kind == "read" {
		nd.lastRead = m.now
	}
	if r.kind == "promise" {
		if r.promised {
			nd.failsafeUntil = max(nd.failsafeUntil, r.sent+m.onClock(r.node, qmFenceAt))
			m.logf("%s serves on %s's promise until %d", name(r.node), name(1-r.node), nd.failsafeUntil)
		}
		return
	}
	if r.kind == "renew" && ev.Kind == EvLeaseLost && m.now < nd.failsafeUntil {
		// Lost while etcd was out of reach, on the promise: rebind.
		nd.lease = -1
		m.send(r.node, "hold")
		return
	}
	if ev.Kind == EvLeaderGone && !m.breakPromise && m.now < nd.promisedUntil {
		// Promised (by this incarnation or, as recorded, one before).
		m.logf("%s: the key is gone but it promised", name(r.node))
		return
	}
	switch ev.Kind {
	case "":
		return
	case EvNewLeader:
		if r.kind == "hold" && WantOf(nd.n.State).Leader == LeaderHold {
			// The rebind found the pair moved on: a lost lease.
			ev = Event{Kind: EvLeaseLost, Reason: "rebind_refused"}
		}
	case EvLeaseHeld:
		if r.kind == "renew" {
			if r.lease == nd.lease && r.sent > nd.lastSent {
				nd.lastSent = r.sent
			}
			return // a renewal is not a step
		}
		nd.lease, nd.lastSent = r.lease, r.sent
	case EvLeaseLost:
		nd.lease = -1
	case EvLeaderTaken:
		nd.lease, nd.lastSent = r.lease, r.sent
		ev.SwitchID = nd.n.SwitchID
	case EvClaimFailed:
		ev.SwitchID = nd.n.SwitchID
	case EvLeaderGone:
		m.nextSw++
		ev.SwitchID = fmt.Sprintf("t%d", m.nextSw)
		if r.owner == r.node && ev.Epoch == nd.n.Epoch+1 {
			// Its own claim, given up (a dead incarnation's request
			// that etcd applied late): the key was lost after this
			// node's epoch as far as it is concerned; claiming again
			// finishes that claim (quorum.Claim's own-epoch case).
			ev.Epoch = nd.n.Epoch
		}
		if m.lagging {
			ev.Unproven = "lag_beyond_max_lag_bytes"
		}
	}
	m.step(r.node, ev)
}

// fenceDue says when node i's self-fence timer fires (-1: none).
func (m *qmodel) fenceDue(i int) int {
	nd := &m.nodes[i]
	switch {
	case !nd.alive:
		return -1
	case nd.n.State == Resuming:
		// Not confirmed within 2/3 of the TTL: fenced.
		return nd.since + m.onClock(i, qmFenceAt)
	case WantOf(nd.n.State).Leader != LeaderHold:
		return -1
	case nd.lease < 0 && MayWrite(nd.n.State):
		// No lease of this daemon holds the key: it may write only on
		// a promise.
		return max(m.now, nd.failsafeUntil)
	case nd.lease < 0:
		return -1
	case m.lateFence:
		return nd.lastSent + 2*qmTTL
	}
	return max(nd.lastSent+m.onClock(i, qmFenceAt), nd.failsafeUntil)
}

// onClock is how long d of node i's clock takes in etcd's time.
func (m *qmodel) onClock(i, d int) int {
	if r := m.nodes[i].rate; r > 0 {
		return d * 1000 / r
	}
	return d
}

// advance moves the clock by dt, firing the self-fence timers and the
// lease expiries in time order.
func (m *qmodel) advance(dt int) {
	end := m.now + dt
	for {
		next := end
		who := -1
		for i := range m.nodes {
			if d := m.fenceDue(i); d >= 0 && d <= next {
				next, who = max(d, m.now), i
			}
		}
		for _, l := range m.etcd.leases {
			if l.live && l.expiry <= next && l.expiry >= m.now {
				next, who = l.expiry, -1
			}
		}
		m.now = next
		m.expire()
		if who >= 0 {
			m.nodes[who].lease = -1
			if m.nodes[who].failsafeUntil > m.nodes[who].lastSent+m.onClock(who, qmFenceAt) {
				m.servedOnPromise++
			}
			m.step(who, Event{Kind: EvLeaseLost, Reason: "not_renewed"})
			m.check()
			continue
		}
		if m.now >= end {
			return
		}
	}
}

func (m *qmodel) restart(i int) {
	nd := &m.nodes[i]
	nd.inc++
	nd.alive, nd.lease, nd.lastSent, nd.since = true, -1, 0, m.now
	// The promise is recorded on the boot clock: a restarted daemon keeps
	// what is left of it; after a reboot (below) it keeps a whole TTL.
	nd.lastRead, nd.failsafeUntil, nd.lastAsk = 0, 0, 0
	if !nd.hostUp {
		// A reboot: the database comes back as it was persisted; the
		// VIP does not survive it.
		nd.hostUp, nd.vip = true, false
		if nd.promisedUntil > 0 {
			nd.promisedUntil = max(nd.promisedUntil, m.now+m.onClock(i, qmTTL))
		}
	}
	m.logf("%s restarts", name(i))
	m.step(i, Event{Kind: EvRestart, Quorum: true})
}

// check is the safety invariant, after every step.
func (m *qmodel) check() {
	a, b := &m.nodes[0], &m.nodes[1]
	if a.hostUp && a.writable && b.hostUp && b.writable {
		m.fail("safety: both databases take writes (%s %s, %s %s)", name(0), a.n.State, name(1), b.n.State)
	}
	if a.alive && b.alive && a.vip && b.vip && a.n.State != Resuming && b.n.State != Resuming {
		m.fail("safety: the VIP is on both hosts (%s %s, %s %s)", name(0), a.n.State, name(1), b.n.State)
	}
	for i, nd := range m.nodes {
		if nd.n.Epoch > m.etcd.epoch {
			m.fail("safety: %s is in epoch %d, ahead of the quorum's %d", name(i), nd.n.Epoch, m.etcd.epoch)
		}
		if MayWrite(nd.n.State) && nd.writable && nd.alive && m.etcd.epoch > nd.n.Epoch && m.etcd.keyHolder >= 0 && m.etcd.keyHolder != i {
			// Only timing stops it; the first clause catches the harm.
			m.logf("note: %s writes in epoch %d while %s leads %d", name(i), nd.n.Epoch, name(m.etcd.keyHolder), m.etcd.epoch)
		}
	}
}

// chaos is one random step.
func (m *qmodel) chaos(c chooser) {
	switch k := c.pick(12); k {
	case 0, 1:
		m.advance(1 + c.pick(700))
	case 2: // a link changes
		l := [][2]int{{0, 1}, {0, 2}, {1, 2}}[c.pick(3)]
		if l == [2]int{0, 1} && m.deadDaemonWritable() {
			return // see the model's comment
		}
		m.up[l] = !m.up[l]
		m.logf("link %v %s", l, map[bool]string{true: "up", false: "down"}[m.up[l]])
	case 3, 4, 5: // a daemon sends what its state asks
		i := c.pick(2)
		m.poll(i, c)
	case 6, 7, 8: // a request reaches etcd, or an answer its node
		m.deliver(c)
	case 9: // a daemon dies
		i := c.pick(2)
		if !m.nodes[i].alive {
			return
		}
		m.nodes[i].alive = false
		if c.pick(2) == 0 {
			m.nodes[i].hostUp, m.nodes[i].vip = false, false
			m.logf("%s's host is lost", name(i))
		} else {
			m.logf("%s's daemon is killed", name(i))
			m.up[link(0, 1)] = m.up[link(0, 1)] || m.nodes[i].writable
		}
	case 10: // a dead daemon comes back (a host reboots)
		i := c.pick(2)
		if !m.nodes[i].alive {
			m.restart(i)
		}
	case 11: // the operator, or a proof that fails or holds again
		i := c.pick(2)
		nd := &m.nodes[i]
		switch c.pick(4) {
		case 0:
			if nd.alive && nd.n.State == Standby {
				m.nextSw++
				m.step(i, Event{Kind: EvForceTakeover, SwitchID: fmt.Sprintf("f%d", m.nextSw), Epoch: nd.n.Epoch})
			}
		case 1:
			if nd.alive && nd.n.State == Active {
				m.nextSw++
				m.step(i, Event{Kind: EvPromote, SwitchID: fmt.Sprintf("p%d", m.nextSw)})
			}
		default:
			m.lagging = !m.lagging
		}
	}
	m.check()
}

func (m *qmodel) deadDaemonWritable() bool {
	for _, nd := range m.nodes {
		if !nd.alive && nd.hostUp && nd.writable {
			return true
		}
	}
	return false
}

// planned moves node i's planned switchover on: the pair network model
// drives it against a real peer; here the peer only answers what
// handshake.Resolve says of its actual record (it never agrees for real,
// so the switchover ends aborted, with the quorum's edges on the way).
func (m *qmodel) planned(i int, c chooser) {
	nd := &m.nodes[i]
	id := nd.n.SwitchID
	switch nd.n.State {
	case RequestingSwitch:
		if c.pick(2) == 0 {
			m.step(i, Event{Kind: EvFailed, SwitchID: id, Reason: "timeout"})
		} else {
			m.step(i, Event{Kind: EvPeerAgreed, SwitchID: id})
		}
	case SwitchingOut, Fenced:
		switch {
		case nd.n.State == SwitchingOut && !nd.vipReleased:
			nd.vip, nd.vipReleased = false, true
			m.step(i, Event{Kind: EvSwitchedOut, SwitchID: id})
		case !m.up[link(0, 1)] || !m.nodes[1-i].alive:
			m.step(i, Event{Kind: EvPeerUnreachable, SwitchID: id, Reason: "peer_unreachable"})
		default:
			r := Resolve(m.nodes[1-i].n, id, nd.n.Epoch)
			switch r.Outcome {
			case OutcomeWillNotPromote:
				m.step(i, Event{Kind: EvPeerWillNotPromote, SwitchID: id})
			case OutcomeActive:
				m.step(i, Event{Kind: EvPeerActive, SwitchID: r.SwitchID, Epoch: r.Epoch, ReverseLSN: "0/1"})
			}
		}
	}
}

// poll: node i's daemon does what its state's leader want asks.
func (m *qmodel) poll(i int, c chooser) {
	nd := &m.nodes[i]
	if !nd.alive {
		return
	}
	switch nd.n.State {
	case TakingOver:
		m.takeOver(i, !m.healing && c.pick(4) == 0)
	case RequestingSwitch, SwitchingOut, Fenced:
		m.planned(i, c)
	case SelfFenced:
		// Behind a later epoch, the daemon compares its transactions
		// with what the new active applied (through etcd and the peer's
		// database); when none is missing there it follows.
		o := 1 - i
		if e := m.etcd; e.epoch > nd.n.Epoch && e.epochOwner == o && m.up[link(i, qmEtcdNode)] && m.up[link(0, 1)] &&
			m.nodes[o].hostUp && c.pick(3) == 0 {
			// Nothing lost, or the operator's rejoin after a report.
			kind := EvNothingLost
			if c.pick(2) == 0 {
				kind = EvRejoined
			}
			m.step(i, Event{Kind: kind, Epoch: e.epoch, ReverseLSN: "0/1"})
		}
	}
	if !nd.alive || m.err != nil {
		return
	}
	switch WantOf(nd.n.State).Leader {
	case LeaderHold:
		if nd.lease >= 0 {
			m.send(i, "renew")
			if m.now-nd.lastSent >= m.onClock(i, qmTTL/3) && m.now-nd.lastAsk >= m.onClock(i, qmTTL/6) {
				nd.lastAsk = m.now
				m.send(i, "promise")
			}
		}
	case LeaderRegain:
		m.send(i, "hold")
	case LeaderWatch:
		m.send(i, "read")
	case LeaderClaim:
		m.send(i, "claim")
	}
}

// deliver moves one request or answer on; a cut link loses it.
func (m *qmodel) deliver(c chooser) {
	if len(m.rpcs) == 0 {
		return
	}
	k := c.pick(len(m.rpcs))
	r := m.rpcs[k]
	l := link(r.node, qmEtcdNode)
	if r.kind == "promise" {
		l = link(0, 1)
	}
	if !m.up[l] || (c.pick(8) == 0) {
		m.rpcs = append(m.rpcs[:k], m.rpcs[k+1:]...)
		m.logf("lost: %s's %s", name(r.node), r.kind)
		return
	}
	if !r.answered {
		m.advance(c.pick(qmMaxDelay / 2))
		if r.kind == "promise" {
			m.promise(r)
			return
		}
		m.process(r)
		return
	}
	m.rpcs = append(m.rpcs[:k], m.rpcs[k+1:]...)
	m.advance(c.pick(qmMaxDelay / 2))
	if nd := m.nodes[r.node]; !nd.alive || nd.inc != r.inc {
		return
	}
	m.answer(r)
}

// heal joins everything, brings the daemons back and runs until the pair
// serves again: exactly one node ACTIVE and taking writes.
func (m *qmodel) heal(c chooser) {
	for l := range m.up {
		m.up[l] = true
	}
	m.lagging, m.healing = false, true
	for i := range m.nodes {
		if !m.nodes[i].alive {
			m.restart(i)
		}
	}
	for range 400 {
		if m.err != nil {
			return
		}
		served := 0
		for _, nd := range m.nodes {
			if nd.n.State == Active && nd.writable {
				served++
			}
		}
		if served == 1 {
			return
		}
		for i := range m.nodes {
			m.poll(i, c)
		}
		for len(m.rpcs) > 0 && m.err == nil {
			r := m.rpcs[0]
			if !r.answered {
				m.process(r)
				continue
			}
			m.rpcs = m.rpcs[1:]
			if nd := m.nodes[r.node]; nd.alive && nd.inc == r.inc {
				m.answer(r)
			}
			m.check()
		}
		m.advance(100)
	}
	if m.err == nil {
		var st []string
		for i, nd := range m.nodes {
			st = append(st, fmt.Sprintf("%s %s epoch=%d writable=%t", name(i), nd.n.State, nd.n.Epoch, nd.writable))
		}
		m.fail("liveness: after healing nobody serves: %s", strings.Join(st, ", "))
	}
}

// A healed pair may leave the old active SELF_FENCED in an older epoch:
// that is rule 5 (it never serves again by itself), not a failure.

func qmRun(seed uint64, steps int, cov map[string]int) *qmodel {
	return qmRunWith(randChooser{rand.New(rand.NewPCG(seed, 0x51ab))}, steps, cov)
}

func qmRunWith(c chooser, steps int, cov map[string]int) *qmodel {
	return qmRunClocks(c, steps, cov, 850, 1150)
}

// qmRunClocks runs with the nodes' clocks at a random rate in [lo, hi]
// per mille of etcd's. The default, up to 15% fast or slow, is within
// what the self-fence at 2/3 of the TTL leaves room for (a clock slower
// than 2/3 of etcd's would let the lease expire first).
func qmRunClocks(c chooser, steps int, cov map[string]int, lo, hi int) *qmodel {
	m := newQModel()
	m.cov = cov
	for i := range m.nodes {
		m.nodes[i].rate = lo + c.pick(hi-lo+1)
	}
	for range steps {
		if m.err != nil {
			break
		}
		m.chaos(c)
	}
	m.heal(c)
	return m
}

func qmSeeds(t *testing.T, n int) []uint64 {
	if v := os.Getenv("QUORUMMODEL_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("QUORUMMODEL_SEED: %v", err)
		}
		return []uint64{s}
	}
	if v := os.Getenv("QUORUMMODEL_SCHEDULES"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("QUORUMMODEL_SCHEDULES: %v", err)
		}
		n = x
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i)
	}
	return out
}

// TestQuorumModel: thousands of schedules of partitions, lost messages,
// restarts and lost hosts; never two writers, never the VIP on two live
// hosts, no epoch back, and once healed one node serves. A failure prints
// its seed (QUORUMMODEL_SEED replays it) and trace.
func TestQuorumModel(t *testing.T) {
	for _, seed := range qmSeeds(t, 5000) {
		m := qmRun(seed, 150, nil)
		if m.err != nil {
			t.Fatalf("seed %d (QUORUMMODEL_SEED=%d): %v\n%s", seed, seed, m.err, strings.Join(m.trace, "\n"))
		}
	}
}

// TestQuorumModelCoverage: the schedules reach every quorum edge of the
// table.
func TestQuorumModelCoverage(t *testing.T) {
	cov := map[string]int{}
	for seed := range uint64(1500) {
		qmRun(seed, 120, cov)
	}
	for _, tr := range table {
		if !quorumEdge(tr) || qmDefensive[fmt.Sprintf("%s --%s--> %s", tr.from, tr.on, tr.to)] {
			continue
		}
		if k := fmt.Sprintf("%s --%s--> %s", tr.from, tr.on, tr.to); cov[k] == 0 {
			t.Errorf("never taken: %s", k)
		}
	}
}

// qmDefensive are edges no correct run reaches (their transcripts test
// them): an ACTIVE node that learns of a later epoch would have fenced
// itself on its own timer first; they stay for clocks that misbehave.
var qmDefensive = map[string]bool{
	"ACTIVE --new_leader--> SELF_FENCED": true,
}

// quorumEdge says whether an edge belongs to the quorum's rows (the pair
// network model covers the others).
func quorumEdge(tr transition) bool {
	switch tr.on {
	case EvLeaseLost, EvLeaseHeld, EvNewLeader, EvLeaderGone, EvForceTakeover, EvLeaderTaken, EvClaimFailed, EvTakenOver, EvNothingLost, EvRejoined:
		return true
	}
	for _, s := range []State{Resuming, SelfFenced, Claiming, TakingOver} {
		if tr.from == s || tr.to == s {
			return true
		}
	}
	return tr.quorum == withQuorum
}

// TestQuorumModelHasTeeth: a holder that fences itself after its lease
// may have expired (twice the TTL, not 2/3 of it) lets the standby write
// while it still does, and the model says so.
func TestQuorumModelHasTeeth(t *testing.T) {
	found := false
	for seed := range uint64(3000) {
		m := newQModel()
		m.lateFence = true
		c := randChooser{rand.New(rand.NewPCG(seed, 0x51ab))}
		for range 120 {
			if m.err != nil {
				break
			}
			m.chaos(c)
		}
		if m.err != nil && strings.HasPrefix(m.err.Error(), "safety: both databases") {
			found = true
			break
		}
	}
	if !found {
		t.Fatal("a holder that fences itself at the TTL never gave two writers: the model cannot see the timing rule")
	}
}

// TestQuorumModelCatchesAnUnguardedEdge: with the quorum rows of one
// edge into ACTIVE taken away (a restart in REQUESTING_SWITCH unfencing
// at once, as without a quorum, which the first version of these rows
// did), the model finds two writers: the node serves without the key while
// the standby takes over.
func TestQuorumModelCatchesAnUnguardedEdge(t *testing.T) {
	saved := table
	defer func() { table = saved }()
	var broken []transition
	for _, tr := range saved {
		if tr.from == RequestingSwitch && tr.on == EvRestart {
			if tr.quorum == withQuorum {
				continue
			}
			tr.quorum = eitherWay
		}
		broken = append(broken, tr)
	}
	table = broken
	for seed := range uint64(30000) {
		if m := qmRun(seed, 120, nil); m.err != nil && strings.HasPrefix(m.err.Error(), "safety") {
			t.Logf("seed %d: %v", seed, m.err)
			return
		}
	}
	t.Fatal("no schedule found two writers with the unguarded restart edge")
}

// FuzzQuorumModel lets the fuzzer choose the schedule.
func FuzzQuorumModel(f *testing.F) {
	f.Add([]byte{0, 2, 3, 6, 6, 9, 1, 1, 4, 7, 7})
	f.Add([]byte{2, 1, 9, 0, 0, 1, 1, 5, 6, 6, 3, 6, 6, 11, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &byteChooser{b: b}
		m := qmRunWith(c, len(b), nil)
		if m.err != nil {
			t.Fatalf("%v\n%s", m.err, strings.Join(m.trace, "\n"))
		}
	})
}

// TestQuorumModelSeesSlowClocks: with the holders' clocks at a third of
// etcd's speed their 2/3-of-the-TTL timer fires long after the lease
// expired, and the model finds the harm: the timing rule's margin is what
// keeps the schedules safe.
func TestQuorumModelSeesSlowClocks(t *testing.T) {
	for seed := range uint64(5000) {
		m := qmRunClocks(randChooser{rand.New(rand.NewPCG(seed, 0x51ab))}, 150, nil, 300, 400)
		if m.err != nil && strings.HasPrefix(m.err.Error(), "safety") {
			t.Logf("seed %d: %v", seed, m.err)
			return
		}
	}
	t.Fatal("clocks at a third of etcd's speed never broke safety: the model cannot see the clock rule")
}

// promise is the peer receiving a failsafe request now: it promises not to
// take over for a TTL on its clock when it follows the asker in its epoch
// and has not read etcd for a sixth of the TTL (the daemon's rule).
func (m *qmodel) promise(r *qmRPC) {
	r.answered = true
	p := 1 - r.node
	pn := &m.nodes[p]
	if !pn.alive || WantOf(pn.n.State).Leader != LeaderWatch || pn.n.Epoch != r.epoch || m.now-pn.lastRead < m.onClock(p, qmTTL/6) {
		m.logf("%s refuses %s a promise", name(p), name(r.node))
		return
	}
	pn.promisedUntil = max(pn.promisedUntil, m.now+m.onClock(p, qmTTL))
	r.promised = true
	m.logf("%s promises %s not to take over until %d", name(p), name(r.node), pn.promisedUntil)
}

// TestQuorumModelFailsafe: holders do serve past their lease deadline on
// the standby's promise in random schedules (failsafe is exercised, and
// safe), and in the schedule where it matters — etcd lost to both, a
// promise, then etcd back for the standby only while the nodes lose each
// other — a standby that broke its promise would take over while the
// active still serves on it: two writers, which the model reports.
func TestQuorumModelFailsafe(t *testing.T) {
	used := 0
	for seed := range uint64(2000) {
		m := qmRun(seed, 120, nil)
		if m.err != nil {
			t.Fatalf("seed %d: %v", seed, m.err)
		}
		used += m.servedOnPromise
	}
	if used == 0 {
		t.Fatal("no schedule had a holder serve on a promise: failsafe is not exercised")
	}
	t.Logf("holders served past their lease deadline on a promise %d times in 2,000 schedules", used)

	for _, broken := range []bool{false, true} {
		m := newQModel()
		m.breakPromise = broken
		deliver := func(i int, kind string) {
			for k, r := range m.rpcs {
				if r.node != i || r.kind != kind {
					continue
				}
				m.rpcs = append(m.rpcs[:k], m.rpcs[k+1:]...)
				if kind == "promise" {
					m.promise(r)
				} else {
					m.process(r)
				}
				m.answer(r)
				m.check()
				return
			}
			t.Fatalf("broken=%t: no %s from %s to deliver", broken, kind, name(i))
		}
		// etcd lost to both; the active asks, the standby (which has not
		// read etcd since) promises.
		m.up[link(0, qmEtcdNode)], m.up[link(1, qmEtcdNode)] = false, false
		m.advance(1100)
		m.poll(0, fixedPick(1))
		deliver(0, "promise")
		// etcd back for the standby only, and the nodes lose each other:
		// the lease expires at 3000, the active serves on until 3100.
		m.up[link(1, qmEtcdNode)], m.up[link(0, 1)] = true, false
		m.advance(1950)
		m.poll(1, fixedPick(1))
		deliver(1, "read")
		if m.nodes[1].n.State == Claiming {
			m.poll(1, fixedPick(1))
			deliver(1, "claim")
			m.poll(1, fixedPick(1)) // takes over: the old database cannot be fenced
			m.check()
		}
		switch {
		case broken && (m.err == nil || !strings.HasPrefix(m.err.Error(), "safety")):
			t.Fatalf("a standby that broke its promise took over unseen: %v\n%s", m.err, strings.Join(m.trace, "\n"))
		case !broken && m.err != nil:
			t.Fatalf("failsafe as built: %v\n%s", m.err, strings.Join(m.trace, "\n"))
		case !broken && m.nodes[1].n.State != Standby:
			t.Fatalf("the standby did not keep its promise: %s", m.nodes[1].n.State)
		}
	}
}

// fixedPick is a chooser that always picks v (mod n): a scripted schedule.
type fixedPick int

func (f fixedPick) pick(n int) int { return int(f) % n }
