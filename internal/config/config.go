package config

import (
	"strings"
	"time"
)

// Config is the whole configuration.
type Config struct {
	Node        NodeConfig        `mapstructure:"node"`
	Peer        PeerConfig        `mapstructure:"peer"`
	Postgres    PostgresConfig    `mapstructure:"postgres"`
	Replication ReplicationConfig `mapstructure:"replication"`
	VIP         VIPConfig         `mapstructure:"vip"`
	Service     ServiceConfig     `mapstructure:"service"`
	Switchover  SwitchoverConfig  `mapstructure:"switchover"`
	Security    SecurityConfig    `mapstructure:"security"`
	Log         LogConfig         `mapstructure:"log"`
}

// NodeConfig is this node.
type NodeConfig struct {
	Name      string `mapstructure:"name"`
	APIListen string `mapstructure:"api_listen"`
	StateDir  string `mapstructure:"state_dir"`
}

// PeerConfig is the other node.
type PeerConfig struct {
	Name   string `mapstructure:"name"`
	APIURL string `mapstructure:"api_url"`
}

// PostgresConfig holds the two databases.
type PostgresConfig struct {
	DSN     string `mapstructure:"dsn"`
	PeerDSN string `mapstructure:"peer_dsn"`
}

// ReplicationConfig says what is replicated and how.
type ReplicationConfig struct {
	Publication string   `mapstructure:"publication"`
	Tables      []string `mapstructure:"tables"`
	Synchronous bool     `mapstructure:"synchronous"`
}

// VIPConfig is the virtual IP.
type VIPConfig struct {
	Address      string        `mapstructure:"address"`
	Interface    string        `mapstructure:"interface"`
	GARPCount    int           `mapstructure:"garp_count"`
	GARPInterval time.Duration `mapstructure:"garp_interval"`
}

// ServiceConfig is the operator's service program.
type ServiceConfig struct {
	Start   []string      `mapstructure:"start"`
	Stop    []string      `mapstructure:"stop"`
	Check   []string      `mapstructure:"check"`
	Timeout time.Duration `mapstructure:"timeout"`
}

// SwitchoverConfig bounds a switchover.
type SwitchoverConfig struct {
	MaxLagBytes    int64         `mapstructure:"max_lag_bytes"`
	CatchupTimeout time.Duration `mapstructure:"catchup_timeout"`
	StepTimeout    time.Duration `mapstructure:"step_timeout"`
}

// SecurityConfig authenticates the API and the peer channel.
type SecurityConfig struct {
	TokenFile string `mapstructure:"token_file"`
	TLSCert   string `mapstructure:"tls_cert"`
	TLSKey    string `mapstructure:"tls_key"`
	TLSCA     string `mapstructure:"tls_ca"`
}

// LogConfig is the log's level and format.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// mapped turns a node name into the part of an SQL name it becomes.
func mapped(name string) string { return strings.ReplaceAll(name, "-", "_") }

// SlotName is the slot on the peer that this node streams from.
func (c *Config) SlotName() string { return "pgswitch_" + mapped(c.Node.Name) }

// PeerSlotName is the slot on this node's database for the peer.
func (c *Config) PeerSlotName() string { return "pgswitch_" + mapped(c.Peer.Name) }

// OriginName is the replication origin on this node's database that tracks
// what was applied from the peer.
func (c *Config) OriginName() string { return "pgswitch_from_" + mapped(c.Peer.Name) }

// ApplicationName is the application_name of this node's sessions.
func (c *Config) ApplicationName() string { return "pgswitch_" + mapped(c.Node.Name) }
