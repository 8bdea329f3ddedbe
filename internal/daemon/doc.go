// Package daemon wires a node together and drives its protocol: it loads
// the node's durable state, watches the local database and the peer, serves
// the HTTP API and metrics, and performs what the handshake decides.
//
// Nothing here decides from a state by itself. Each event goes through
// handshake.Step and is persisted before its actions run; what a state
// wants of the world (applier, VIP, client mode, synchronous names,
// probes, slots, peer queries, fault handling) is handshake.WantOf,
// compared with what the reconcile loop observes on every event and every
// tick; what the peer is answered is handshake.Resolve and handshake.Reply.
// Faults are named by supervise, the synchronous setting is syncpolicy's,
// slot housekeeping is slots'. What is left here is how to act: the
// database, the VIP, the service program, the peer's API, and the
// goroutines that do it, each owned by the daemon and stopped with it.
package daemon
