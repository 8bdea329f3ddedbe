package config

import (
	"strings"
	"time"
)

// key is one configuration key.
type key struct {
	name string // "section.key", lowercase
	// def is the default, written as in the environment ("200ms", "3", a
	// list as words); "" is the zero value.
	def string
	// keepZero marks a key whose zero value is a setting of its own (no
	// announcements, no lag allowed): Validate leaves it alone instead of
	// filling in the default.
	keepZero bool
	// field points into c at the key's value: *string, *[]string, *bool,
	// *int, *int64 or *time.Duration.
	field func(c *Config) any
}

// keys is every configuration key, in the order of the example file. Adding
// a key is one line here (and its field in Config): the file's sections, the
// PGSWITCH_ variable, the default, decoding and Redacted follow from it.
var keys = []key{
	{name: "node.name", field: func(c *Config) any { return &c.Node.Name }},
	{name: "node.api_listen", field: func(c *Config) any { return &c.Node.APIListen }},
	{name: "node.state_dir", field: func(c *Config) any { return &c.Node.StateDir }},

	{name: "peer.name", field: func(c *Config) any { return &c.Peer.Name }},
	{name: "peer.api_url", field: func(c *Config) any { return &c.Peer.APIURL }},

	{name: "postgres.dsn", field: func(c *Config) any { return &c.Postgres.DSN }},
	{name: "postgres.peer_dsn", field: func(c *Config) any { return &c.Postgres.PeerDSN }},

	{name: "replication.publication", def: "pgswitch", field: func(c *Config) any { return &c.Replication.Publication }},
	{name: "replication.tables", field: func(c *Config) any { return &c.Replication.Tables }},
	{name: "replication.synchronous", field: func(c *Config) any { return &c.Replication.Synchronous }},
	{name: "replication.sync_degrade_after", def: "10s", keepZero: true, field: func(c *Config) any { return &c.Replication.SyncDegradeAfter }},
	{name: "replication.group_max", def: "64", field: func(c *Config) any { return &c.Replication.GroupMax }},

	{name: "vip.address", field: func(c *Config) any { return &c.VIP.Address }},
	{name: "vip.interface", field: func(c *Config) any { return &c.VIP.Interface }},
	{name: "vip.garp_count", def: "3", keepZero: true, field: func(c *Config) any { return &c.VIP.GARPCount }},
	{name: "vip.garp_interval", def: "200ms", keepZero: true, field: func(c *Config) any { return &c.VIP.GARPInterval }},

	{name: "service.start", field: func(c *Config) any { return &c.Service.Start }},
	{name: "service.stop", field: func(c *Config) any { return &c.Service.Stop }},
	{name: "service.check", field: func(c *Config) any { return &c.Service.Check }},
	{name: "service.timeout", def: "10s", field: func(c *Config) any { return &c.Service.Timeout }},

	{name: "switchover.max_lag_bytes", def: "16777216", keepZero: true, field: func(c *Config) any { return &c.Switchover.MaxLagBytes }},
	{name: "switchover.catchup_timeout", def: "30s", field: func(c *Config) any { return &c.Switchover.CatchupTimeout }},
	{name: "switchover.step_timeout", def: "10s", field: func(c *Config) any { return &c.Switchover.StepTimeout }},

	{name: "supervision.interval", def: "1s", field: func(c *Config) any { return &c.Supervision.Interval }},
	{name: "supervision.fault_grace", def: "5s", keepZero: true, field: func(c *Config) any { return &c.Supervision.FaultGrace }},
	{name: "supervision.service_check_interval", def: "5s", field: func(c *Config) any { return &c.Supervision.ServiceCheckInterval }},
	{name: "supervision.service_check_failures", def: "3", field: func(c *Config) any { return &c.Supervision.ServiceCheckFailures }},
	{name: "supervision.disk_min_free_percent", def: "5", keepZero: true, field: func(c *Config) any { return &c.Supervision.DiskMinFreePercent }},
	{name: "supervision.disk_path", field: func(c *Config) any { return &c.Supervision.DiskPath }},

	{name: "failover.auto", field: func(c *Config) any { return &c.Failover.Auto }},
	{name: "failover.after", def: "15s", field: func(c *Config) any { return &c.Failover.After }},
	// SPEC §9; failover.unplanned stays false when set so (the loader stores
	// every default before it reads the file).
	{name: "failover.unplanned", def: "true", keepZero: true, field: func(c *Config) any { return &c.Failover.Unplanned }},
	{name: "failover.max_lag_bytes", def: "1048576", keepZero: true, field: func(c *Config) any { return &c.Failover.MaxLagBytes }},

	{name: "security.token_file", field: func(c *Config) any { return &c.Security.TokenFile }},
	{name: "security.tls_cert", field: func(c *Config) any { return &c.Security.TLSCert }},
	{name: "security.tls_key", field: func(c *Config) any { return &c.Security.TLSKey }},
	{name: "security.tls_ca", field: func(c *Config) any { return &c.Security.TLSCA }},

	{name: "log.level", def: "info", field: func(c *Config) any { return &c.Log.Level }},
	{name: "log.format", def: "json", field: func(c *Config) any { return &c.Log.Format }},

	// SPEC §9: the quorum for an unplanned failover.
	{name: "quorum.endpoints", field: func(c *Config) any { return &c.Quorum.Endpoints }},
	{name: "quorum.cluster", field: func(c *Config) any { return &c.Quorum.Cluster }},
	{name: "quorum.prefix", def: "/pgswitch/", field: func(c *Config) any { return &c.Quorum.Prefix }},
	{name: "quorum.lease_ttl", def: "3s", field: func(c *Config) any { return &c.Quorum.LeaseTTL }},
	{name: "quorum.tls_ca", field: func(c *Config) any { return &c.Quorum.TLSCA }},
	{name: "quorum.tls_cert", field: func(c *Config) any { return &c.Quorum.TLSCert }},
	{name: "quorum.tls_key", field: func(c *Config) any { return &c.Quorum.TLSKey }},
}

// envPrefix starts every environment variable that configures pgswitch.
const envPrefix = "PGSWITCH_"

// Indexes of keys, built once.
var (
	keyByName = map[string]*key{}
	keyByEnv  = map[string]*key{}
	sections  []string // in the order of keys
)

func init() {
	for i := range keys {
		k := &keys[i]
		keyByName[k.name] = k
		keyByEnv[k.env()] = k
		if sec := k.section(); !isSection(sec) {
			sections = append(sections, sec)
		}
	}
}

// section is the first part of the key's name.
func (k *key) section() string { sec, _, _ := strings.Cut(k.name, "."); return sec }

// short is the key's name within its section.
func (k *key) short() string { _, s, _ := strings.Cut(k.name, "."); return s }

// env is the environment variable that overrides the key:
// node.api_listen is PGSWITCH_NODE_API_LISTEN.
func (k *key) env() string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(k.name, ".", "_"))
}

// isList says whether the key holds a list.
func (k *key) isList() bool {
	_, ok := k.field(&Config{}).(*[]string)
	return ok
}

func isSection(name string) bool {
	for _, s := range sections {
		if s == name {
			return true
		}
	}
	return false
}

// isZero says whether the key's value in c is its type's zero value.
func (k *key) isZero(c *Config) bool {
	switch p := k.field(c).(type) {
	case *string:
		return *p == ""
	case *[]string:
		return len(*p) == 0
	case *bool:
		return !*p
	case *int:
		return *p == 0
	case *int64:
		return *p == 0
	case *time.Duration:
		return *p == 0
	}
	panic("config: key " + k.name + " has a field of an unsupported type")
}

// setDefault stores the key's default in c.
func (k *key) setDefault(c *Config) {
	if k.def == "" {
		k.setZero(c)
		return
	}
	r := raw{text: k.def}
	if k.isList() {
		r = listRaw(strings.Fields(k.def), "")
	}
	if err := k.decode(c, r); err != nil {
		panic("config: the default of " + k.name + " does not decode: " + err.Error())
	}
}

// setZero stores the zero value of the key's type in c.
func (k *key) setZero(c *Config) {
	switch p := k.field(c).(type) {
	case *string:
		*p = ""
	case *[]string:
		*p = nil
	case *bool:
		*p = false
	case *int:
		*p = 0
	case *int64:
		*p = 0
	case *time.Duration:
		*p = 0
	default:
		panic("config: key " + k.name + " has a field of an unsupported type")
	}
}
