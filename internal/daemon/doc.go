// Package daemon wires a node together: it loads the node's durable state,
// watches the local database, runs the applier while the node is a standby,
// serves the HTTP API and metrics, and (with the handshake) drives
// switchovers. It decides from the persisted state and acts through the
// other packages; it holds no protocol logic of its own.
package daemon
