package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	nodeNameRE = regexp.MustCompile(`^[a-z0-9_-]{1,40}$`)
	identRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$`)
)

// Validate fills in defaults and checks every key. A default replaces a
// zero value only where zero is no setting of its own (an empty log.level
// becomes info; a vip.garp_count of 0 stays 0), so a Config built in code
// needs only the keys without defaults. Every problem is reported: the error
// is an errors.Join of *Error, each naming its key.
func (c *Config) Validate() error {
	c.fillDefaults()
	var errs []error
	for _, p := range c.check() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// fillDefaults stores the default of every key that is zero in c and whose
// zero is not a setting of its own.
func (c *Config) fillDefaults() {
	for i := range keys {
		if k := &keys[i]; k.def != "" && !k.keepZero && k.isZero(c) {
			k.setDefault(c)
		}
	}
	c.defaultStateDir()
}

// DefaultStateBase is the directory under which node.state_dir defaults to
// a directory named after the node.
const DefaultStateBase = "/var/lib/pgswitch"

// defaultStateDir sets an unset node.state_dir to DefaultStateBase/<node.name>
// (SPEC §5): one directory per node, so that two nodes on one host never
// share, and act on, one state file.
func (c *Config) defaultStateDir() {
	if c.Node.StateDir == "" && c.Node.Name != "" {
		c.Node.StateDir = filepath.Join(DefaultStateBase, c.Node.Name)
	}
}

// problems collects what check finds.
type problems []*Error

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// check returns a problem for every invalid value in c, in the order of the
// keys; it changes nothing.
func (c *Config) check() []*Error {
	var ps problems
	c.checkNames(&ps)
	checkListen(&ps, "node.api_listen", c.Node.APIListen)
	if c.Node.StateDir == "" && c.Node.Name != "" {
		// Without node.name the default has nothing to follow; node.name
		// is reported.
		ps.add("node.state_dir", "must not be empty")
	}
	checkURL(&ps, "peer.api_url", c.Peer.APIURL)
	checkDSN(&ps, "postgres.dsn", c.Postgres.DSN)
	checkDSN(&ps, "postgres.peer_dsn", c.Postgres.PeerDSN)
	c.checkReplication(&ps)
	c.checkVIP(&ps)
	c.checkService(&ps)
	c.checkSwitchover(&ps)
	c.checkSupervision(&ps)
	c.checkSecurity(&ps)
	c.checkLog(&ps)
	c.checkQuorum(&ps)
	return ps
}

func (c *Config) checkNames(ps *problems) {
	for _, n := range []struct{ key, name string }{{"node.name", c.Node.Name}, {"peer.name", c.Peer.Name}} {
		if !nodeNameRE.MatchString(n.name) {
			ps.add(n.key, "%s must be 1 to 40 characters of a-z, 0-9, _ and -", quoteValue(n.name))
		}
	}
	switch {
	case c.Node.Name == "" || c.Peer.Name == "":
	case c.Node.Name == c.Peer.Name:
		ps.add("peer.name", "must differ from node.name (both are %q)", c.Node.Name)
	case sqlName(c.Node.Name) == sqlName(c.Peer.Name):
		ps.add("peer.name", "%q and node.name %q give the same slot name %s ('-' becomes '_')",
			c.Peer.Name, c.Node.Name, c.SlotName())
	}
}

// checkListen checks a host:port to listen on; the host may be empty (every
// address), an IP address or a name.
func checkListen(ps *problems, key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		ps.add(key, "must be host:port, like 10.0.0.11:7480, not %s", quoteValue(addr))
		return
	}
	if !validPort(port) {
		ps.add(key, "port %s is not a number from 1 to 65535", quoteValue(port))
	}
	if host != "" && !validHost(host) {
		ps.add(key, "host %s is not an IP address or a host name", quoteValue(host))
	}
}

// checkURL checks the peer's API URL: http(s)://host:port, optionally with a
// path, without credentials, query or fragment.
func checkURL(ps *problems, key, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Opaque != "" || (u.Scheme != "http" && u.Scheme != "https"):
		ps.add(key, "must be an http:// or https:// URL with host and port, like https://10.0.0.12:7480, not %s", quoteValue(s))
	case u.User != nil:
		ps.add(key, "must not hold credentials (the API uses security.token_file or mutual TLS)")
	case u.Hostname() == "" || !validHost(u.Hostname()):
		ps.add(key, "%s has no valid host", quoteValue(s))
	case !validPort(u.Port()):
		ps.add(key, "%s needs a port from 1 to 65535, like https://10.0.0.12:7480", quoteValue(s))
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		ps.add(key, "%s must not have a query or fragment", quoteValue(s))
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && s == strconv.Itoa(n)
}

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return len(h) <= 253 && hostnameRE.MatchString(h)
}

func (c *Config) checkReplication(ps *problems) {
	if !identRE.MatchString(c.Replication.Publication) {
		ps.add("replication.publication", "%s must be a lowercase SQL identifier (a-z, 0-9 and _, at most 63, not starting with a digit)",
			quoteValue(c.Replication.Publication))
	}
	seen := map[string]string{}
	for _, t := range c.Replication.Tables {
		schema, table, qualified := strings.Cut(t, ".")
		if !qualified {
			schema, table = "public", t
		}
		if !identRE.MatchString(schema) || !identRE.MatchString(table) {
			ps.add("replication.tables", "%s must be table or schema.table, each a lowercase SQL identifier", quoteValue(t))
			continue
		}
		full := schema + "." + table
		if first, dup := seen[full]; dup {
			ps.add("replication.tables", "%s is listed twice (also as %q)", quoteValue(t), first)
			continue
		}
		seen[full] = t
	}
}

func (c *Config) checkVIP(ps *problems) {
	v := c.VIP
	if v.Address != "" {
		if _, err := netip.ParsePrefix(v.Address); err != nil {
			ps.add("vip.address", "%s must be an address with its prefix length, like 10.0.0.100/24 or fd00::100/64", quoteValue(v.Address))
		}
		if v.Interface == "" {
			ps.add("vip.interface", "must be set when vip.address is")
		}
	}
	if v.Interface != "" && (len(v.Interface) > 15 || strings.ContainsAny(v.Interface, "/ \t\n\r\f\v\x00") || v.Interface == "." || v.Interface == "..") {
		ps.add("vip.interface", "%s is not a network interface name", quoteValue(v.Interface))
	}
	if v.GARPCount < 0 || v.GARPCount > 100 {
		ps.add("vip.garp_count", "must be from 0 to 100, not %d", v.GARPCount)
	}
	if v.GARPInterval < 0 || v.GARPInterval > 10*time.Second {
		ps.add("vip.garp_interval", "must be from 0 to 10s, not %s", v.GARPInterval)
	}
}

func (c *Config) checkService(ps *problems) {
	for _, cmd := range []struct {
		key  string
		argv []string
	}{{"service.start", c.Service.Start}, {"service.stop", c.Service.Stop}, {"service.check", c.Service.Check}} {
		if len(cmd.argv) > 0 && strings.TrimSpace(cmd.argv[0]) == "" {
			ps.add(cmd.key, "the program (the first item) must not be empty")
		}
	}
	if c.Service.Timeout <= 0 {
		ps.add("service.timeout", "must be more than 0, not %s", c.Service.Timeout)
	}
}

func (c *Config) checkSwitchover(ps *problems) {
	s := c.Switchover
	if s.MaxLagBytes < 0 {
		ps.add("switchover.max_lag_bytes", "must not be negative, not %d", s.MaxLagBytes)
	}
	if s.CatchupTimeout <= 0 {
		ps.add("switchover.catchup_timeout", "must be more than 0, not %s", s.CatchupTimeout)
	}
	if s.StepTimeout <= 0 {
		ps.add("switchover.step_timeout", "must be more than 0, not %s", s.StepTimeout)
	}
}

func (c *Config) checkSupervision(ps *problems) {
	s := c.Supervision
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"supervision.interval", s.Interval}, {"supervision.service_check_interval", s.ServiceCheckInterval}, {"failover.after", c.Failover.After}} {
		if d.v <= 0 || d.v > time.Hour {
			ps.add(d.key, "must be more than 0 and at most 1h, not %s", d.v)
		}
	}
	if s.FaultGrace < 0 || s.FaultGrace > time.Hour {
		ps.add("supervision.fault_grace", "must be 0 to 1h, not %s", s.FaultGrace)
	}
	if s.ServiceCheckFailures < 1 || s.ServiceCheckFailures > 1000 {
		ps.add("supervision.service_check_failures", "must be 1 to 1000, not %d", s.ServiceCheckFailures)
	}
	if s.DiskMinFreePercent < 0 || s.DiskMinFreePercent > 99 {
		ps.add("supervision.disk_min_free_percent", "must be 0 to 99, not %d", s.DiskMinFreePercent)
	}
	if r := c.Replication.SyncDegradeAfter; r < 0 || r > time.Hour {
		ps.add("replication.sync_degrade_after", "must be 0 (strict) to 1h, not %s", r)
	}
	if g := c.Replication.GroupMax; g < 1 || g > 10000 {
		ps.add("replication.group_max", "must be 1 (each source transaction alone) to 10000, not %d", g)
	}
}

func (c *Config) checkSecurity(ps *problems) {
	s := c.Security
	tls := []struct{ key, val string }{{"security.tls_cert", s.TLSCert}, {"security.tls_key", s.TLSKey}, {"security.tls_ca", s.TLSCA}}
	var set, unset []string
	for _, t := range tls {
		if t.val != "" {
			set = append(set, t.key)
		} else {
			unset = append(unset, t.key)
		}
	}
	if len(set) > 0 {
		for _, key := range unset {
			ps.add(key, "must be set with %s: mutual TLS needs tls_cert, tls_key and tls_ca", strings.Join(set, " and "))
		}
	}
	if s.TokenFile == "" && len(set) == 0 {
		ps.add("security.token_file", "must be set unless tls_cert, tls_key and tls_ca are: the API must be authenticated")
	}
}

func (c *Config) checkLog(ps *problems) {
	if _, err := ParseLevel(c.Log.Level); err != nil {
		ps.add("log.level", "%s must be debug, info, warn or error", quoteValue(c.Log.Level))
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		ps.add("log.format", "%s must be json or console", quoteValue(c.Log.Format))
	}
}
