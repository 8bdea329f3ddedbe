// Package syncpolicy is the active's synchronous policy: which standby its
// commits wait for (synchronous_standby_names), decided by a pure function
// from what the active observes, and the setting applied to the database.
// A new active waits for its follower to stream before commits wait for
// it; a standby gone longer than replication.sync_degrade_after is dropped
// from the setting (degraded) until it streams caught up again; with 0 it
// is never dropped (strict).
package syncpolicy
