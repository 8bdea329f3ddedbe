package api

import "time"

// Status is the document of GET /v1/status.
type Status struct {
	Node     string    `json:"node"`
	State    string    `json:"state"`
	Epoch    uint64    `json:"epoch"`
	SwitchID string    `json:"switch_id,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Version  string    `json:"version"`
	Time     time.Time `json:"time"`

	Faults []Fault `json:"faults"`

	Database    Database     `json:"database"`
	Replication *Replication `json:"replication,omitempty"`
	VIP         *VIP         `json:"vip,omitempty"`
	Peer        *PeerView    `json:"peer,omitempty"`
	Quorum      *Quorum      `json:"quorum,omitempty"`
	// Divergence: transactions this node (an old active) committed that
	// the new active never applied (SPEC §9 rule 5).
	Divergence *Divergence `json:"divergence,omitempty"`

	LastSwitchover *Switchover `json:"last_switchover,omitempty"`
}

// Divergence is the lost-transaction report of an old active.
type Divergence struct {
	Epoch        uint64 `json:"epoch"`
	Transactions int    `json:"transactions"`
	Report       string `json:"report"`
}

// Quorum is the pair's keys in etcd as this node last read them (SPEC §9;
// only with quorum.endpoints).
type Quorum struct {
	Reachable   bool      `json:"reachable"`
	Error       string    `json:"error,omitempty"`
	Holder      string    `json:"holder,omitempty"` // the leader key's node; "" when absent
	Epoch       int64     `json:"epoch,omitempty"`
	LeaseLeftMS int64     `json:"lease_left_ms,omitempty"`
	Sync        []string  `json:"sync,omitempty"` // the standbys the sync key names
	SeenAt      time.Time `json:"seen_at,omitempty"`
}

// Fault is a named local fault.
type Fault struct {
	Reason string    `json:"reason"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
}

// Database is the local database as the daemon last saw it.
type Database struct {
	Reachable  bool   `json:"reachable"`
	ClientMode string `json:"client_mode,omitempty"` // writable | read-only | fenced
	WriteLSN   string `json:"write_lsn,omitempty"`   // pg_current_wal_lsn() on the active
	Error      string `json:"error,omitempty"`
}

// Replication is the applier on a standby.
type Replication struct {
	Streaming      bool    `json:"streaming"`
	Slot           string  `json:"slot"`
	ReceivedLSN    string  `json:"received_lsn"`
	ReplayedLSN    string  `json:"replayed_lsn"`
	FlushedLSN     string  `json:"flushed_lsn"`
	PrimaryLSN     string  `json:"primary_lsn"`
	LagBytes       int64   `json:"lag_bytes"`
	LagSeconds     float64 `json:"lag_seconds"`
	AppliedTxns    uint64  `json:"applied_transactions"`
	AppliedChanges uint64  `json:"applied_changes"`
	AppliedBytes   uint64  `json:"applied_bytes"`
	Sessions       uint64  `json:"sessions"`
	Fault          string  `json:"fault,omitempty"`
}

// VIP is the virtual address on this node.
type VIP struct {
	Address   string `json:"address"`
	Interface string `json:"interface"`
	Held      bool   `json:"held"`
}

// PeerView is the peer as this node last saw it.
type PeerView struct {
	Name      string    `json:"name"`
	Reachable bool      `json:"reachable"`
	State     string    `json:"state,omitempty"`
	Epoch     uint64    `json:"epoch,omitempty"`
	SeenAt    time.Time `json:"seen_at,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// Switchover is the record of one switchover.
type Switchover struct {
	ID       string    `json:"id"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitempty"`
	Outcome  string    `json:"outcome"` // running | done | aborted | fenced
	Reason   string    `json:"reason,omitempty"`
	Steps    []Step    `json:"steps"`
}

// Step is one transition of a switchover with its duration.
type Step struct {
	Node   string        `json:"node"`
	State  string        `json:"state"`
	At     time.Time     `json:"at"`
	Took   time.Duration `json:"took_ns"`
	Detail string        `json:"detail,omitempty"`
}
