// Package handshake is the switchover protocol of SPEC §2–§3 as a pure state
// machine: the states of both sides, the table of allowed transitions and a
// step function from (state, event) to (new state, actions). It does no I/O;
// the daemon persists each new state before it performs the actions and
// feeds their outcomes back as events.
package handshake
