// Package daemon wires a node together: it takes the node's lock and loads
// its durable state, watches the local database, the peer and the quorum,
// serves the HTTP API and metrics, and runs the reconcile loop and, with a
// quorum, the leadership loop (leader.go): the etcd lease and the leader
// key held, regained, watched or claimed as the state wants, the failsafe
// promise, the sequence positions published, and what an old active finds
// it alone committed (divergence.go: the report, pgswitch rejoin).
//
// Nothing here decides from a state by itself, and nothing here steps the
// handshake except through switchover.Driver, which persists each event's
// new state before its actions run and owns the record. What a state wants
// of the world (applier, VIP, client mode, synchronous names, probes,
// slots, peer queries, fault handling) is handshake.WantOf, compared with
// what the reconcile loop observes on every event and every tick. Faults
// are named by supervise, the synchronous setting is syncpolicy's, slot
// housekeeping is slots'. What is left here is how to act on the node —
// the VIP, the service program, the applier, the view of the local
// database — offered to the driver as switchover.Env, and the goroutines
// that do it, each owned by the daemon and stopped with it.
package daemon
