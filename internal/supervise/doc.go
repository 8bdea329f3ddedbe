// Package supervise names what is wrong with a node: the fault reasons
// (one typed list, which status, logs and the pgswitch_fault metric
// share), a set that confirms a fault only once it has lasted
// supervision.fault_grace, and the judgements made from it: which faults
// make a standby unfit to become active, which let an active hand over by
// itself, and what the applier's status says.
//
// It decides nothing about states: the daemon's reconcile loop feeds what
// it observes in, and the handshake table decides what a fault does.
package supervise
