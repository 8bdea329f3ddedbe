// Package switchover drives one node through the handshake: it owns the
// node's persisted record, feeds events to handshake.Step, persists each new
// state before it acts on it (SPEC §2), performs the table's actions and
// answers the peer's messages (request, switch-out, resolve, abort) and the
// operator's promote; it also performs the unplanned failover's actions, the
// self-fence and the takeover (takeover.go), which share the switch-in's
// steps.
//
// It acts on the node only through Env — the VIP, the service program, the
// applier and the daemon's view of the local database — and on the two
// databases through dbrole, each session verified against the system
// identifier in the record. What it does not own (supervision, the reconcile
// loop, HTTP wiring, metrics of the rest) stays in package daemon, which
// implements Env.
package switchover
