// Package handshake is the switchover protocol of SPEC §2–§3 as pure
// functions: the states of both sides, the table of allowed transitions and
// a step function from (state, event) to (new state, actions); what each
// state wants of the world (WantOf), for a level-triggered reconcile loop;
// what a node answers an old active that asks what became of a switchover
// (Resolve); and which answer a request gets (Reply). It does no I/O; the
// daemon persists each new state before it performs the actions and feeds
// their outcomes back as events. The pair model in pair_test.go checks the
// safety properties under random schedules.
package handshake
