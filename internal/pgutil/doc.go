// Package pgutil opens PostgreSQL connections the way every part of pgswitch
// needs them: fixed session settings that make text values round-trip exactly
// between the nodes, a recognisable application_name (the fence spares
// pgswitch's own sessions by it), connect timeouts, and errors that never
// carry a password.
package pgutil
