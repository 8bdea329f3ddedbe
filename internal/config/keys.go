package config

import "time"

// key is one configuration key with its default. Adding a key is one line
// here plus the field in Config.
type key struct {
	name string // section.key
	def  any
	kind kind
}

type kind int

const (
	kString kind = iota
	kStrings
	kBool
	kInt
	kDuration
)

var keys = []key{
	{"node.name", "", kString},
	{"node.api_listen", "", kString},
	{"node.state_dir", "/var/lib/pgswitch", kString},
	{"peer.name", "", kString},
	{"peer.api_url", "", kString},
	{"postgres.dsn", "", kString},
	{"postgres.peer_dsn", "", kString},
	{"replication.publication", "pgswitch", kString},
	{"replication.tables", []string{}, kStrings},
	{"replication.synchronous", false, kBool},
	{"vip.address", "", kString},
	{"vip.interface", "", kString},
	{"vip.garp_count", 3, kInt},
	{"vip.garp_interval", 200 * time.Millisecond, kDuration},
	{"service.start", []string{}, kStrings},
	{"service.stop", []string{}, kStrings},
	{"service.check", []string{}, kStrings},
	{"service.timeout", 10 * time.Second, kDuration},
	{"switchover.max_lag_bytes", int64(16777216), kInt},
	{"switchover.catchup_timeout", 30 * time.Second, kDuration},
	{"switchover.step_timeout", 10 * time.Second, kDuration},
	{"security.token_file", "", kString},
	{"security.tls_cert", "", kString},
	{"security.tls_key", "", kString},
	{"security.tls_ca", "", kString},
	{"log.level", "info", kString},
	{"log.format", "json", kString},
}

// sections are the top-level keys.
func sections() map[string]bool {
	s := map[string]bool{}
	for _, k := range keys {
		sec, _, _ := cut(k.name)
		s[sec] = true
	}
	return s
}

func cut(name string) (string, string, bool) {
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			return name[:i], name[i+1:], true
		}
	}
	return name, "", false
}
