package config

import (
	"strings"
	"time"
)

// Config is the whole configuration. Its keys, their defaults and their
// environment variables are listed in keys.go.
type Config struct {
	Node        NodeConfig
	Peer        PeerConfig
	Postgres    PostgresConfig
	Replication ReplicationConfig
	VIP         VIPConfig
	Service     ServiceConfig
	Switchover  SwitchoverConfig
	Supervision SupervisionConfig
	Failover    FailoverConfig
	Security    SecurityConfig
	Log         LogConfig
	Quorum      QuorumConfig
}

// NodeConfig is this node (section node).
type NodeConfig struct {
	Name      string // unique name, [a-z0-9_-]{1,40}
	APIListen string // host:port of this daemon's HTTP API
	StateDir  string // directory of the node's durable state file
}

// PeerConfig is the other node (section peer).
type PeerConfig struct {
	Name   string // the peer's node.name
	APIURL string // http(s)://host:port of the peer's API
}

// PostgresConfig holds the two databases (section postgres).
type PostgresConfig struct {
	DSN     string // this node's database
	PeerDSN string // the peer's database
}

// ReplicationConfig says what is replicated and how (section replication).
type ReplicationConfig struct {
	Publication string   // publication name on both nodes
	Tables      []string // "table" or "schema.table"; empty: FOR ALL TABLES
	Synchronous bool     // commits on the active wait for the standby's flush
	// SyncDegradeAfter: how long the active waits for a vanished standby
	// before it stops waiting (a loud fault); 0 is strict: it never stops.
	SyncDegradeAfter time.Duration
}

// VIPConfig is the virtual IP that follows the active node (section vip).
type VIPConfig struct {
	Address      string        // CIDR, IPv4 or IPv6; empty: no VIP
	Interface    string        // interface the address is added to
	GARPCount    int           // announcements sent on takeover
	GARPInterval time.Duration // pause between announcements
}

// ServiceConfig is the operator's service program (section service). Each
// command is an argv run without a shell; an empty one runs nothing.
type ServiceConfig struct {
	Start   []string
	Stop    []string
	Check   []string
	Timeout time.Duration // longest any one command may run
}

// SwitchoverConfig bounds a planned switchover (section switchover).
type SwitchoverConfig struct {
	MaxLagBytes    int64         // refuse to start while further behind
	CatchupTimeout time.Duration // for the standby to catch up once fenced
	StepTimeout    time.Duration // for each step of the handshake
}

// SupervisionConfig paces the daemon's health checks (section
// supervision).
type SupervisionConfig struct {
	Interval             time.Duration // local checks: database, applier, disk
	FaultGrace           time.Duration // a fault must last this long to count
	ServiceCheckInterval time.Duration // how often service.check runs
	ServiceCheckFailures int           // consecutive failures that make a fault
	DiskMinFreePercent   int           // below this the disk is a fault (0: off)
	DiskPath             string        // "" : the database's data directory
}

// FailoverConfig is the fault-initiated switchover (section failover).
type FailoverConfig struct {
	Auto  bool          // the active starts a switchover itself on a fault
	After time.Duration // how long the active's fault must last first

	// Unplanned: with a quorum, the standby takes over when the active's
	// lease is lost (SPEC §9).
	Unplanned bool
	// MaxLagBytes: asynchronous mode, no takeover if the standby was further
	// behind when it last heard the active.
	MaxLagBytes int64
}

// SecurityConfig authenticates the API and the channel between the nodes
// (section security): a bearer token, mutual TLS, or both.
type SecurityConfig struct {
	TokenFile string
	TLSCert   string
	TLSKey    string
	TLSCA     string
}

// LogConfig is the log's level and format (section log).
type LogConfig struct {
	Level  string // debug, info, warn or error
	Format string // json or console
}

// sqlName turns a node name into the part of an SQL name it becomes.
func sqlName(node string) string { return strings.ReplaceAll(node, "-", "_") }

// SlotName is the replication slot on the peer's database that this node
// streams from.
func (c *Config) SlotName() string { return "pgswitch_" + sqlName(c.Node.Name) }

// PeerSlotName is the replication slot on this node's database that the
// peer streams from (the peer's SlotName).
func (c *Config) PeerSlotName() string { return "pgswitch_" + sqlName(c.Peer.Name) }

// OriginName is the replication origin on this node's database that tracks
// what was applied from the peer.
func (c *Config) OriginName() string { return "pgswitch_from_" + sqlName(c.Peer.Name) }

// PeerOriginName is the replication origin on the peer's database that
// tracks what it applied from this node (the peer's OriginName).
func (c *Config) PeerOriginName() string { return "pgswitch_from_" + sqlName(c.Node.Name) }

// PeerApplicationName is the application_name of the peer's applier (its
// walsender here): what synchronous_standby_names names.
func (c *Config) PeerApplicationName() string { return "pgswitch_" + sqlName(c.Peer.Name) }

// ApplicationName is the application_name of this node's applier.
func (c *Config) ApplicationName() string { return "pgswitch_" + sqlName(c.Node.Name) }

// QuorumConfig is the etcd v3 cluster that decides an unplanned failover
// (section quorum, SPEC §9). Without Endpoints there is no quorum.
type QuorumConfig struct {
	Endpoints []string      // etcd client URLs
	Cluster   string        // the pair's name in etcd, [a-z0-9_-]
	Prefix    string        // the pair's keys live under Prefix+Cluster+"/"
	LeaseTTL  time.Duration // the active's leader lease
	TLSCA     string        // etcd client TLS: all three or none
	TLSCert   string
	TLSKey    string
}
