package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/pgutil"
)

var (
	nodeNameRE = regexp.MustCompile(`^[a-z0-9_-]{1,40}$`)
	identRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// Validate checks every key and names each problem; all problems are
// returned together (errors.Join of *Error).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for key, name := range map[string]string{"node.name": c.Node.Name, "peer.name": c.Peer.Name} {
		if !nodeNameRE.MatchString(name) {
			bad(key, "%q must be 1-40 characters of a-z, 0-9, _ and -", name)
		}
	}
	if c.Node.Name != "" && c.Node.Name == c.Peer.Name {
		bad("peer.name", "must differ from node.name (%q)", c.Node.Name)
	} else if c.Node.Name != "" && mapped(c.Node.Name) == mapped(c.Peer.Name) {
		bad("peer.name", "%q and node.name %q give the same slot name %s", c.Peer.Name, c.Node.Name, c.SlotName())
	}
	if host, port, err := net.SplitHostPort(c.Node.APIListen); err != nil {
		bad("node.api_listen", "must be host:port, not %q", c.Node.APIListen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		bad("node.api_listen", "port %q is not 1-65535", port)
	} else if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		bad("node.api_listen", "host %q is not an address or name", host)
	}
	if c.Node.StateDir == "" {
		bad("node.state_dir", "must not be empty")
	}
	if u, err := url.Parse(c.Peer.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" {
		bad("peer.api_url", "must be an http:// or https:// URL with host and port, not %q", c.Peer.APIURL)
	}
	for key, dsn := range map[string]string{"postgres.dsn": c.Postgres.DSN, "postgres.peer_dsn": c.Postgres.PeerDSN} {
		if strings.TrimSpace(dsn) == "" {
			bad(key, "must not be empty")
			continue
		}
		if _, err := pgconn.ParseConfig(dsn); err != nil {
			bad(key, "%q is not a valid connection string", RedactDSN(dsn))
		}
	}
	if !identRE.MatchString(c.Replication.Publication) {
		bad("replication.publication", "%q must be a lowercase SQL identifier", c.Replication.Publication)
	}
	seen := map[string]bool{}
	for _, t := range c.Replication.Tables {
		parts := strings.Split(t, ".")
		ok := len(parts) <= 2
		for _, p := range parts {
			ok = ok && identRE.MatchString(p)
		}
		if !ok {
			bad("replication.tables", "%q must be table or schema.table in lowercase identifiers", t)
		}
		if seen[t] {
			bad("replication.tables", "%q is listed twice", t)
		}
		seen[t] = true
	}
	if c.VIP.Address != "" {
		if _, err := netip.ParsePrefix(c.VIP.Address); err != nil {
			bad("vip.address", "%q must be an address with prefix length, like 10.0.0.100/24", c.VIP.Address)
		}
		if c.VIP.Interface == "" {
			bad("vip.interface", "must be set when vip.address is")
		}
	}
	if c.VIP.GARPCount < 0 || c.VIP.GARPCount > 100 {
		bad("vip.garp_count", "must be 0-100, not %d", c.VIP.GARPCount)
	}
	if c.VIP.GARPInterval < 0 || c.VIP.GARPInterval > 10*time.Second {
		bad("vip.garp_interval", "must be 0-10s, not %s", c.VIP.GARPInterval)
	}
	for key, argv := range map[string][]string{"service.start": c.Service.Start, "service.stop": c.Service.Stop, "service.check": c.Service.Check} {
		if len(argv) > 0 && strings.TrimSpace(argv[0]) == "" {
			bad(key, "the program (first element) must not be empty")
		}
	}
	if c.Service.Timeout <= 0 {
		bad("service.timeout", "must be positive")
	}
	if c.Switchover.MaxLagBytes < 0 {
		bad("switchover.max_lag_bytes", "must not be negative")
	}
	if c.Switchover.CatchupTimeout <= 0 {
		bad("switchover.catchup_timeout", "must be positive")
	}
	if c.Switchover.StepTimeout <= 0 {
		bad("switchover.step_timeout", "must be positive")
	}
	s := c.Security
	tlsSet := 0
	for _, v := range []string{s.TLSCert, s.TLSKey, s.TLSCA} {
		if v != "" {
			tlsSet++
		}
	}
	if tlsSet != 0 && tlsSet != 3 {
		bad("security.tls_cert", "tls_cert, tls_key and tls_ca must be set together")
	}
	if s.TokenFile == "" && tlsSet != 3 {
		bad("security.token_file", "set a token file or mutual TLS: the /v1 API must be authenticated")
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		bad("log.level", "%q must be debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		bad("log.format", "%q must be json or console", c.Log.Format)
	}
	return errors.Join(errs...)
}

// ParseLevel reads a log level.
func ParseLevel(s string) (zerolog.Level, error) {
	switch s {
	case "debug":
		return zerolog.DebugLevel, nil
	case "info":
		return zerolog.InfoLevel, nil
	case "warn":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("unknown log level %q", s)
}

// Logger builds the logger: JSON or console to w, at log.level, with the
// node's name on every line.
func (c *Config) Logger(w io.Writer) zerolog.Logger {
	if c.Log.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339Nano}
	}
	lvl, err := ParseLevel(c.Log.Level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("node", c.Node.Name).Logger()
}

// RedactDSN masks a password in a key=value or URL connection string.
func RedactDSN(dsn string) string { return pgutil.Redact(dsn) }

// Redacted renders the configuration with passwords masked.
func (c *Config) Redacted() string {
	r := *c
	r.Postgres.DSN = RedactDSN(c.Postgres.DSN)
	r.Postgres.PeerDSN = RedactDSN(c.Postgres.PeerDSN)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %v\n", k.name, value(&r, k.name))
	}
	return b.String()
}

func value(c *Config, name string) any {
	switch p := field(c, name).(type) {
	case *string:
		return *p
	case *[]string:
		return *p
	case *bool:
		return *p
	case *int:
		return *p
	case *int64:
		return *p
	case *time.Duration:
		return *p
	}
	return nil
}
