// Package replication keeps the standby in sync with the active node: it owns
// the logical replication slot on the active, the initial copy from an
// exported snapshot, the stream of pgoutput messages, and the applier that
// applies each source transaction whole, in commit order: one local
// transaction holds one source transaction or, while a backlog waits in the
// daemon, a group of consecutive whole ones (bounded by count, bytes and
// age; a transaction that arrives alone is committed alone).
//
// Exactly-once rests on PostgreSQL's replication origins, as in its own apply
// worker: the applier's session is bound to an origin, and every local
// transaction records the end LSN of its (last) source commit in that origin
// before it commits (pgswitch.apply_commit). After a crash at any instant the
// origin and the data agree, and streaming resumes from the origin's
// position. A fault of the data names the source transaction it belongs to;
// after one, the next session applies one transaction at a time up to where
// the failed one had received, so the transactions before the failing one
// commit.
//
// The primary learns what it may discard only from flush feedback: a source
// position is reported flushed once the local commit that applied it is at or
// below the standby's own WAL flush position.
//
// A session ends by itself when the walsender falls silent (ReceiveTimeout:
// pinged after a third of it, given up two thirds later, as PostgreSQL's
// walreceiver does) and when a stop's grace runs out with the apply session
// hung (StopGrace): no read or write on either connection waits for ever.
package replication
