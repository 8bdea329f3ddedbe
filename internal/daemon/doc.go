// Package daemon wires a node together: it loads the node's durable state,
// watches the local database and the peer, serves the HTTP API and metrics,
// and drives switchovers. The protocol is handshake's: each event goes
// through handshake.Step and is persisted before its actions run, what a
// state wants of the world (applier, VIP, client mode, synchronous names,
// slots, peer queries) is handshake.WantOf, compared with what the reconcile
// loop observes every second, and what an old active is answered is
// handshake.Resolve. What is left here is how to act: the database, the VIP,
// the service program, the peer's API.
package daemon
