// Package dbrole changes what clients may do with a node's database: fence
// it (no new client connections, every session read-only, open sessions
// ended), make it writable, or read-only for a standby. It also performs the
// database steps of a switchover: the switch marker written through the slot,
// the sequence values carried to the new active, and the reverse slot.
//
// The fence is durable: it lives in the database's own settings
// (CONNECTION LIMIT 0 and default_transaction_read_only), so it holds across
// restarts of PostgreSQL and of pgswitch until pgswitch lifts it.
package dbrole
