// Package handshake is pgswitch's whole protocol as pure functions: the
// planned switchover of SPEC §2–§3 and the unplanned failover's rows of §9
// (the lease, the self-fence, the takeover). It holds the states of both
// sides, the table of allowed transitions and a step function from (state,
// event) to (new state, actions); what each state wants of the world
// (WantOf), for a level-triggered reconcile loop; what a node answers an
// old active that asks what became of a switchover (Resolve); which answer
// a request gets (Reply); and the questions the daemon asks instead of
// comparing states (Accepts, Takes, MayAgree, Ended, ResultOf).
//
// It does no I/O; the daemon persists each new state before it performs
// the actions and feeds their outcomes back as events. Three models check
// the safety properties under random schedules and fuzzing: pair_test.go
// (lost, duplicated and reordered messages, restarts), pairnet_test.go
// (RPC timeouts, late answers, commits and the catch-up) and
// quorum_model_test.go (an etcd lease and epoch key on a clock, partitions
// between any two of the nodes and etcd, lost hosts).
package handshake
