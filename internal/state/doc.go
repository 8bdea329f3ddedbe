// Package state keeps a node's durable handshake state in a small JSON file
// in node.state_dir, written atomically (temporary file, fsync, rename, fsync
// of the directory) before the daemon acts on a transition. The file, not the
// database, is the record: it must be readable when the database is down,
// and it must never travel to the other node through replication.
//
// A lock file beside it keeps two pgswitch processes from changing the state
// of one node at once.
package state
