// Package setup prepares the nodes (`pgswitch init`): the primary gets
// pgswitch's schema, the publication, the replication origin and the slot
// for its peer; the standby gets the schema, the origin and a consistent
// copy of the data, and is then made read-only to clients. Both are
// idempotent and refuse, changing nothing, when a precondition fails.
package setup
