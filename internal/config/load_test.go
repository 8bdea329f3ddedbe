package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/viper"

	"github.com/pgswitch/pgswitch/internal/config"
)

// minimal is the smallest valid configuration: every key without a default.
const minimal = `node:
  name: db-1
  api_listen: ":7400"
peer:
  name: db-2
  api_url: http://db-2:7400
postgres:
  dsn: host=localhost dbname=app
  peer_dsn: host=db-2 dbname=app
security:
  token_file: /etc/pgswitch/token
`

// edit returns minimal with one piece of text replaced; it fails the test
// when the text is not there, so that a case never tests the wrong file.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(minimal, old) {
		t.Fatalf("minimal config has no %q", old)
	}
	return strings.Replace(minimal, old, new, 1)
}

// problems flattens a (joined) error into its *config.Error leaves and fails
// the test when any leaf is something else.
func problems(t *testing.T, err error) []*config.Error {
	t.Helper()
	var out []*config.Error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		ce, ok := e.(*config.Error)
		if !ok {
			t.Errorf("problem %v (%T) is not a *config.Error", e, e)
			return
		}
		out = append(out, ce)
	}
	if err != nil {
		walk(err)
	}
	return out
}

// keysOf lists the keys of the problems, sorted.
func keysOf(ps []*config.Error) []string {
	keys := make([]string, 0, len(ps))
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	sort.Strings(keys)
	return keys
}

// loadOK loads data and fails the test on any error.
func loadOK(t *testing.T, data string, env ...string) *config.Config {
	t.Helper()
	c, err := config.LoadBytes([]byte(data), env)
	if err != nil {
		t.Fatalf("LoadBytes: unexpected error:\n%v", err)
	}
	if c == nil {
		t.Fatal("LoadBytes returned neither a config nor an error")
	}
	return c
}

// loadFail loads data, expects an error and returns its problems' keys.
func loadFail(t *testing.T, data string, env ...string) ([]string, []*config.Error) {
	t.Helper()
	c, err := config.LoadBytes([]byte(data), env)
	if err == nil {
		t.Fatalf("LoadBytes: want an error, got none (config %+v)", c)
	}
	if c != nil {
		t.Errorf("LoadBytes returned a config along with the error %v", err)
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Errorf("errors.As(%v, *config.Error) = false", err)
	}
	ps := problems(t, err)
	return keysOf(ps), ps
}

func TestDefaults(t *testing.T) {
	c := loadOK(t, minimal)
	checks := []struct {
		name      string
		got, want any
	}{
		{"node.state_dir", c.Node.StateDir, "/var/lib/pgswitch"},
		{"replication.publication", c.Replication.Publication, "pgswitch"},
		{"replication.tables", len(c.Replication.Tables), 0},
		{"replication.synchronous", c.Replication.Synchronous, false},
		{"vip.address", c.VIP.Address, ""},
		{"vip.garp_count", c.VIP.GARPCount, 3},
		{"vip.garp_interval", c.VIP.GARPInterval, 200 * time.Millisecond},
		{"service.start", len(c.Service.Start), 0},
		{"service.timeout", c.Service.Timeout, 10 * time.Second},
		{"switchover.max_lag_bytes", c.Switchover.MaxLagBytes, int64(16 << 20)},
		{"switchover.catchup_timeout", c.Switchover.CatchupTimeout, 30 * time.Second},
		{"switchover.step_timeout", c.Switchover.StepTimeout, 10 * time.Second},
		{"security.tls_cert", c.Security.TLSCert, ""},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "json"},
		// and the file's values are taken
		{"node.name", c.Node.Name, "db-1"},
		{"node.api_listen", c.Node.APIListen, ":7400"},
		{"peer.name", c.Peer.Name, "db-2"},
		{"peer.api_url", c.Peer.APIURL, "http://db-2:7400"},
		{"postgres.dsn", c.Postgres.DSN, "host=localhost dbname=app"},
		{"postgres.peer_dsn", c.Postgres.PeerDSN, "host=db-2 dbname=app"},
		{"security.token_file", c.Security.TokenFile, "/etc/pgswitch/token"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of a loaded config: %v", err)
	}
}

// TestValidate covers every rule of Validate: each case changes a valid
// configuration and names exactly the keys that must be reported (none for a
// value that must be accepted).
func TestValidate(t *testing.T) {
	long := strings.Repeat("a", 40)
	cases := []struct {
		name   string
		mutate func(c *config.Config)
		want   []string // keys of the problems, sorted; nil = valid
	}{
		{"valid as loaded", func(c *config.Config) {}, nil},

		// node.name and peer.name
		{"node name empty", func(c *config.Config) { c.Node.Name = "" }, []string{"node.name"}},
		{"node name uppercase", func(c *config.Config) { c.Node.Name = "Db1" }, []string{"node.name"}},
		{"node name with space", func(c *config.Config) { c.Node.Name = "db 1" }, []string{"node.name"}},
		{"node name with dot", func(c *config.Config) { c.Node.Name = "db.1" }, []string{"node.name"}},
		{"node name 41 chars", func(c *config.Config) { c.Node.Name = long + "a" }, []string{"node.name"}},
		{"node name 40 chars", func(c *config.Config) { c.Node.Name = long }, nil},
		{"node name with _ and -", func(c *config.Config) { c.Node.Name = "db_1-a" }, nil},
		{"peer name empty", func(c *config.Config) { c.Peer.Name = "" }, []string{"peer.name"}},
		{"peer name invalid", func(c *config.Config) { c.Peer.Name = "db/2" }, []string{"peer.name"}},
		{"peer name equals node name", func(c *config.Config) { c.Peer.Name = c.Node.Name }, []string{"peer.name"}},
		{"names give the same slot a-b a_b", func(c *config.Config) { c.Node.Name, c.Peer.Name = "a-b", "a_b" }, []string{"peer.name"}},
		{"names give the same slot a_b a-b", func(c *config.Config) { c.Node.Name, c.Peer.Name = "a_b", "a-b" }, []string{"peer.name"}},
		{"names differ after mapping", func(c *config.Config) { c.Node.Name, c.Peer.Name = "a-b", "a_c" }, nil},

		// node.api_listen
		{"api_listen without port", func(c *config.Config) { c.Node.APIListen = "0.0.0.0" }, []string{"node.api_listen"}},
		{"api_listen empty", func(c *config.Config) { c.Node.APIListen = "" }, []string{"node.api_listen"}},
		{"api_listen port 0", func(c *config.Config) { c.Node.APIListen = ":0" }, []string{"node.api_listen"}},
		{"api_listen port 65536", func(c *config.Config) { c.Node.APIListen = "10.0.0.1:65536" }, []string{"node.api_listen"}},
		{"api_listen port by name", func(c *config.Config) { c.Node.APIListen = "localhost:http" }, []string{"node.api_listen"}},
		{"api_listen host with space", func(c *config.Config) { c.Node.APIListen = "my host:7400" }, []string{"node.api_listen"}},
		{"api_listen host with slash", func(c *config.Config) { c.Node.APIListen = "10.0.0.0/8:7400" }, []string{"node.api_listen"}},
		{"api_listen ipv4", func(c *config.Config) { c.Node.APIListen = "10.0.0.1:7400" }, nil},
		{"api_listen ipv6", func(c *config.Config) { c.Node.APIListen = "[fd00::1]:7400" }, nil},
		{"api_listen name", func(c *config.Config) { c.Node.APIListen = "db-1.example.com:65535" }, nil},

		// node.state_dir
		{"state_dir empty", func(c *config.Config) { c.Node.StateDir = "" }, []string{"node.state_dir"}},

		// peer.api_url
		{"api_url empty", func(c *config.Config) { c.Peer.APIURL = "" }, []string{"peer.api_url"}},
		{"api_url without scheme", func(c *config.Config) { c.Peer.APIURL = "db-2:7400" }, []string{"peer.api_url"}},
		{"api_url ftp", func(c *config.Config) { c.Peer.APIURL = "ftp://db-2:7400" }, []string{"peer.api_url"}},
		{"api_url without port", func(c *config.Config) { c.Peer.APIURL = "https://db-2" }, []string{"peer.api_url"}},
		{"api_url not a URL", func(c *config.Config) { c.Peer.APIURL = "http://db 2:7400" }, []string{"peer.api_url"}},
		{"api_url https ipv6", func(c *config.Config) { c.Peer.APIURL = "https://[fd00::2]:7400" }, nil},
		{"api_url with path", func(c *config.Config) { c.Peer.APIURL = "http://10.0.0.2:7400/" }, nil},

		// postgres.dsn and peer_dsn
		{"dsn empty", func(c *config.Config) { c.Postgres.DSN = "" }, []string{"postgres.dsn"}},
		{"dsn blank", func(c *config.Config) { c.Postgres.DSN = "  \t" }, []string{"postgres.dsn"}},
		{"dsn bad port", func(c *config.Config) { c.Postgres.DSN = "host=h port=notaport" }, []string{"postgres.dsn"}},
		{"dsn no key=value", func(c *config.Config) { c.Postgres.DSN = "host" }, []string{"postgres.dsn"}},
		{"dsn unterminated quote", func(c *config.Config) { c.Postgres.DSN = "host='h" }, []string{"postgres.dsn"}},
		{"peer_dsn bad URL port", func(c *config.Config) { c.Postgres.PeerDSN = "postgres://h:x/db" }, []string{"postgres.peer_dsn"}},
		{"both dsn invalid", func(c *config.Config) { c.Postgres.DSN, c.Postgres.PeerDSN = "", "port=x" }, []string{"postgres.dsn", "postgres.peer_dsn"}},
		{"dsn URL", func(c *config.Config) { c.Postgres.DSN = "postgres://u:pw@localhost:5432/app?sslmode=disable" }, nil},

		// replication.publication
		{"publication empty", func(c *config.Config) { c.Replication.Publication = "" }, []string{"replication.publication"}},
		{"publication uppercase", func(c *config.Config) { c.Replication.Publication = "PgSwitch" }, []string{"replication.publication"}},
		{"publication starts with digit", func(c *config.Config) { c.Replication.Publication = "1pub" }, []string{"replication.publication"}},
		{"publication with dash", func(c *config.Config) { c.Replication.Publication = "pg-switch" }, []string{"replication.publication"}},
		{"publication 64 chars", func(c *config.Config) { c.Replication.Publication = strings.Repeat("p", 64) }, []string{"replication.publication"}},
		{"publication 63 chars", func(c *config.Config) { c.Replication.Publication = strings.Repeat("p", 63) }, nil},
		{"publication _x1", func(c *config.Config) { c.Replication.Publication = "_x1" }, nil},

		// replication.tables
		{"tables valid", func(c *config.Config) { c.Replication.Tables = []string{"t", "public.t2", "billing.invoices"} }, nil},
		{"table uppercase", func(c *config.Config) { c.Replication.Tables = []string{"public.Orders"} }, []string{"replication.tables"}},
		{"table three parts", func(c *config.Config) { c.Replication.Tables = []string{"db.public.t"} }, []string{"replication.tables"}},
		{"table empty", func(c *config.Config) { c.Replication.Tables = []string{""} }, []string{"replication.tables"}},
		{"table empty schema", func(c *config.Config) { c.Replication.Tables = []string{".t"} }, []string{"replication.tables"}},
		{"table quoted", func(c *config.Config) { c.Replication.Tables = []string{`"t"`} }, []string{"replication.tables"}},
		{"table listed twice", func(c *config.Config) { c.Replication.Tables = []string{"public.t", "public.u", "public.t"} }, []string{"replication.tables"}},
		{"two bad tables", func(c *config.Config) { c.Replication.Tables = []string{"A", "b c"} }, []string{"replication.tables", "replication.tables"}},

		// vip
		{"vip none", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "", "" }, nil},
		{"vip v4", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "10.0.0.100/24", "eth0" }, nil},
		{"vip v6", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "fd00::100/64", "eth0" }, nil},
		{"vip v4 without prefix", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "10.0.0.100", "eth0" }, []string{"vip.address"}},
		{"vip v6 without prefix", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "fd00::100", "eth0" }, []string{"vip.address"}},
		{"vip v4 prefix 33", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "10.0.0.100/33", "eth0" }, []string{"vip.address"}},
		{"vip v6 prefix 129", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "fd00::100/129", "eth0" }, []string{"vip.address"}},
		{"vip a name", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "vip.example.com/24", "eth0" }, []string{"vip.address"}},
		{"vip without interface", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "10.0.0.100/24", "" }, []string{"vip.interface"}},
		{"vip invalid and no interface", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "10.0.0.300/24", "" }, []string{"vip.address", "vip.interface"}},

		// vip.garp_count and garp_interval
		{"garp_count -1", func(c *config.Config) { c.VIP.GARPCount = -1 }, []string{"vip.garp_count"}},
		{"garp_count 0", func(c *config.Config) { c.VIP.GARPCount = 0 }, nil},
		{"garp_count 100", func(c *config.Config) { c.VIP.GARPCount = 100 }, nil},
		{"garp_count 101", func(c *config.Config) { c.VIP.GARPCount = 101 }, []string{"vip.garp_count"}},
		{"garp_interval negative", func(c *config.Config) { c.VIP.GARPInterval = -time.Millisecond }, []string{"vip.garp_interval"}},
		{"garp_interval 0", func(c *config.Config) { c.VIP.GARPInterval = 0 }, nil},
		{"garp_interval 10s", func(c *config.Config) { c.VIP.GARPInterval = 10 * time.Second }, nil},
		{"garp_interval over 10s", func(c *config.Config) { c.VIP.GARPInterval = 10*time.Second + time.Nanosecond }, []string{"vip.garp_interval"}},

		// service
		{"service argv", func(c *config.Config) {
			c.Service.Start = []string{"systemctl", "start", "app"}
			c.Service.Stop = []string{"/usr/bin/stop-app"}
			c.Service.Check = nil
		}, nil},
		{"service.start empty program", func(c *config.Config) { c.Service.Start = []string{"", "start"} }, []string{"service.start"}},
		{"service.stop blank program", func(c *config.Config) { c.Service.Stop = []string{"  "} }, []string{"service.stop"}},
		{"service.check empty program", func(c *config.Config) { c.Service.Check = []string{""} }, []string{"service.check"}},
		{"all service programs empty", func(c *config.Config) {
			c.Service.Start, c.Service.Stop, c.Service.Check = []string{""}, []string{""}, []string{""}
		}, []string{"service.check", "service.start", "service.stop"}},
		{"service.timeout 0", func(c *config.Config) { c.Service.Timeout = 0 }, []string{"service.timeout"}},
		{"service.timeout negative", func(c *config.Config) { c.Service.Timeout = -time.Second }, []string{"service.timeout"}},

		// switchover
		{"max_lag_bytes negative", func(c *config.Config) { c.Switchover.MaxLagBytes = -1 }, []string{"switchover.max_lag_bytes"}},
		{"max_lag_bytes 0", func(c *config.Config) { c.Switchover.MaxLagBytes = 0 }, nil},
		{"catchup_timeout 0", func(c *config.Config) { c.Switchover.CatchupTimeout = 0 }, []string{"switchover.catchup_timeout"}},
		{"catchup_timeout negative", func(c *config.Config) { c.Switchover.CatchupTimeout = -time.Second }, []string{"switchover.catchup_timeout"}},
		{"step_timeout 0", func(c *config.Config) { c.Switchover.StepTimeout = 0 }, []string{"switchover.step_timeout"}},
		{"step_timeout negative", func(c *config.Config) { c.Switchover.StepTimeout = -1 }, []string{"switchover.step_timeout"}},

		// security
		{"neither token nor TLS", func(c *config.Config) { c.Security = config.SecurityConfig{} }, []string{"security.token_file"}},
		{"TLS only", func(c *config.Config) {
			c.Security = config.SecurityConfig{TLSCert: "c.pem", TLSKey: "k.pem", TLSCA: "ca.pem"}
		}, nil},
		{"token and TLS", func(c *config.Config) {
			c.Security.TLSCert, c.Security.TLSKey, c.Security.TLSCA = "c.pem", "k.pem", "ca.pem"
		}, nil},
		{"token and partial TLS (no CA)", func(c *config.Config) {
			c.Security.TLSCert, c.Security.TLSKey = "c.pem", "k.pem"
		}, []string{"security.tls_cert"}},
		{"token and only tls_ca", func(c *config.Config) { c.Security.TLSCA = "ca.pem" }, []string{"security.tls_cert"}},
		{"partial TLS without token", func(c *config.Config) {
			c.Security = config.SecurityConfig{TLSCert: "c.pem"}
		}, []string{"security.tls_cert", "security.token_file"}},
		{"TLS key and CA without cert or token", func(c *config.Config) {
			c.Security = config.SecurityConfig{TLSKey: "k.pem", TLSCA: "ca.pem"}
		}, []string{"security.tls_cert", "security.token_file"}},

		// log
		{"log level debug", func(c *config.Config) { c.Log.Level = "debug" }, nil},
		{"log level warn", func(c *config.Config) { c.Log.Level = "warn" }, nil},
		{"log level error", func(c *config.Config) { c.Log.Level = "error" }, nil},
		{"log level unknown", func(c *config.Config) { c.Log.Level = "verbose" }, []string{"log.level"}},
		{"log level uppercase", func(c *config.Config) { c.Log.Level = "INFO" }, []string{"log.level"}},
		{"log level empty", func(c *config.Config) { c.Log.Level = "" }, []string{"log.level"}},
		{"log format console", func(c *config.Config) { c.Log.Format = "console" }, nil},
		{"log format text", func(c *config.Config) { c.Log.Format = "text" }, []string{"log.format"}},
		{"log format empty", func(c *config.Config) { c.Log.Format = "" }, []string{"log.format"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := loadOK(t, minimal)
			tc.mutate(c)
			err := c.Validate()
			got := keysOf(problems(t, err))
			if len(got) == 0 {
				got = nil
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems at %q, want %q\nerror: %v", got, tc.want, err)
			}
			for _, p := range problems(t, err) {
				if p.Msg == "" {
					t.Errorf("problem at %s has no message", p.Key)
				}
				if !strings.Contains(p.Error(), p.Key) {
					t.Errorf("%q does not name its key %s", p.Error(), p.Key)
				}
			}
		})
	}
}

// TestValidateReportsEverything: several broken keys come back as one
// problem each, all in one error.
func TestValidateReportsEverything(t *testing.T) {
	data := edit(t, "name: db-2", "name: db-1") + "vip:\n  garp_count: 500\nlog:\n  level: loud\n"
	keys, ps := loadFail(t, data)
	want := []string{"log.level", "peer.name", "vip.garp_count"}
	if !slices.Equal(keys, want) {
		t.Fatalf("problems at %q, want %q", keys, want)
	}
	if len(ps) != 3 {
		t.Fatalf("%d problems, want 3", len(ps))
	}
	// Each one is reachable with errors.As through the joined error, and the
	// whole message names every key.
	c, err := config.LoadBytes([]byte(data), nil)
	if c != nil {
		t.Fatal("config returned with errors")
	}
	for _, k := range want {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
}

// TestLoadReportsEverything: problems found while reading (unknown keys,
// wrong types, unknown variables) are reported together as well.
func TestLoadReportsEverything(t *testing.T) {
	data := edit(t, "  name: db-1\n", "  name: db-1\n  nmae: x\n") + "vip:\n  garp_count: three\n"
	keys, _ := loadFail(t, data, "PGSWITCH_LOG_LEVLE=debug")
	want := []string{"PGSWITCH_LOG_LEVLE", "node.nmae", "vip.garp_count"}
	if !slices.Equal(keys, want) {
		t.Fatalf("problems at %q, want %q", keys, want)
	}
}

func TestUnknownKeys(t *testing.T) {
	cases := []struct {
		name string
		data string
		want []string
		msg  string // part of the first problem's message
	}{
		{"unknown section", minimal + "nodes:\n  name: x\n", []string{"nodes"}, "unknown section"},
		{"unknown top-level scalar", minimal + "debug: true\n", []string{"debug"}, "unknown section"},
		{"unknown key in known section", edit(t, "  api_listen:", "  api_lisen: x\n  api_listen:"), []string{"node.api_lisen"}, "unknown key"},
		{"unknown key in a section absent otherwise", minimal + "vip:\n  adress: 10.0.0.1/24\n", []string{"vip.adress"}, "unknown key"},
		{"nested mapping under a section", minimal + "vip:\n  garp:\n    count: 3\n", []string{"vip.garp"}, "unknown key"},
		{"section as scalar", minimal + "log: debug\n", []string{"log"}, "mapping"},
		{"section as list", minimal + "vip:\n  - 10.0.0.1/24\n", []string{"vip"}, "mapping"},
		{"two unknown keys", minimal + "vip:\n  adress: x\n  iface: eth0\n", []string{"vip.adress", "vip.iface"}, "unknown key"},
		{"unknown at both levels", minimal + "extra:\n  a: 1\nlog:\n  colour: true\n", []string{"extra", "log.colour"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, ps := loadFail(t, tc.data)
			if !slices.Equal(keys, tc.want) {
				t.Fatalf("problems at %q, want %q", keys, tc.want)
			}
			if !strings.Contains(ps[0].Msg, tc.msg) {
				t.Errorf("message %q does not say %q", ps[0].Msg, tc.msg)
			}
		})
	}
}

func TestEmptySectionIsDefaults(t *testing.T) {
	c := loadOK(t, minimal+"vip:\nlog:\n")
	if c.VIP.GARPCount != 3 || c.Log.Level != "info" {
		t.Errorf("empty sections: garp_count %d, log.level %q; want the defaults", c.VIP.GARPCount, c.Log.Level)
	}
}

func TestNotYAML(t *testing.T) {
	for _, data := range []string{"node: [\n", "- a\n- b\n", "just a string\n", "node:\n\tname: tab\n"} {
		keys, _ := loadFail(t, data)
		if !slices.Equal(keys, []string{"(file)"}) {
			t.Errorf("%q: problems at %q, want (file)", data, keys)
		}
	}
}

func TestWrongTypes(t *testing.T) {
	cases := []struct {
		name string
		data string
		want string
	}{
		{"string for int", minimal + "vip:\n  garp_count: three\n", "vip.garp_count"},
		{"fraction for int", minimal + "vip:\n  garp_count: 2.5\n", "vip.garp_count"},
		{"huge int", minimal + "vip:\n  garp_count: 99999999999\n", "vip.garp_count"},
		{"string for int64", minimal + "switchover:\n  max_lag_bytes: 16MB\n", "switchover.max_lag_bytes"},
		{"beyond int64", minimal + "switchover:\n  max_lag_bytes: 18446744073709551615\n", "switchover.max_lag_bytes"},
		{"int for duration without unit", minimal + "vip:\n  garp_interval: 200\n", "vip.garp_interval"},
		{"int for timeout without unit", minimal + "service:\n  timeout: 10\n", "service.timeout"},
		{"float for duration", minimal + "switchover:\n  step_timeout: 1.5\n", "switchover.step_timeout"},
		{"bad duration string", minimal + "switchover:\n  catchup_timeout: 30 seconds\n", "switchover.catchup_timeout"},
		{"list for duration", minimal + "switchover:\n  catchup_timeout: [30s]\n", "switchover.catchup_timeout"},
		{"list for string", minimal + "log:\n  level: [debug]\n", "log.level"},
		{"mapping for string", minimal + "log:\n  format: {a: b}\n", "log.format"},
		{"scalar for list", minimal + "service:\n  start: systemctl start app\n", "service.start"},
		{"mapping for list", minimal + "replication:\n  tables: {public: t}\n", "replication.tables"},
		{"null item in list", minimal + "service:\n  stop: [systemctl, null]\n", "service.stop"},
		{"word for bool", minimal + "replication:\n  synchronous: maybe\n", "replication.synchronous"},
		{"number for bool", minimal + "replication:\n  synchronous: 2\n", "replication.synchronous"},
		{"list for bool", minimal + "replication:\n  synchronous: [true]\n", "replication.synchronous"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, ps := loadFail(t, tc.data)
			if !slices.Equal(keys, []string{tc.want}) {
				t.Fatalf("problems at %q, want [%s]", keys, tc.want)
			}
			if ps[0].Msg == "" {
				t.Error("problem has no message")
			}
		})
	}
}

// TestAcceptedForms: values of another YAML type that have one obvious
// meaning are taken.
func TestAcceptedForms(t *testing.T) {
	c := loadOK(t, minimal+`vip:
  garp_count: 5.0
  garp_interval: 0
replication:
  synchronous: "yes"
service:
  start: [systemctl, start, 8080]
  timeout: " 1m30s "
switchover:
  max_lag_bytes: 1e6
`)
	if c.VIP.GARPCount != 5 {
		t.Errorf("garp_count 5.0 = %d, want 5", c.VIP.GARPCount)
	}
	if c.VIP.GARPInterval != 0 {
		t.Errorf("garp_interval 0 = %s, want 0", c.VIP.GARPInterval)
	}
	if !c.Replication.Synchronous {
		t.Error(`synchronous "yes" = false`)
	}
	if want := []string{"systemctl", "start", "8080"}; !slices.Equal(c.Service.Start, want) {
		t.Errorf("service.start = %q, want %q", c.Service.Start, want)
	}
	if c.Service.Timeout != 90*time.Second {
		t.Errorf("service.timeout = %s, want 1m30s", c.Service.Timeout)
	}
	if c.Switchover.MaxLagBytes != 1000000 {
		t.Errorf("max_lag_bytes 1e6 = %d", c.Switchover.MaxLagBytes)
	}
}

func TestEnvOverrides(t *testing.T) {
	cases := []struct {
		name  string
		env   []string
		check func(t *testing.T, c *config.Config)
	}{
		{"strings", []string{"PGSWITCH_VIP_ADDRESS=fd00::100/64", "PGSWITCH_VIP_INTERFACE=eth1"}, func(t *testing.T, c *config.Config) {
			if c.VIP.Address != "fd00::100/64" || c.VIP.Interface != "eth1" {
				t.Errorf("vip = %q on %q", c.VIP.Address, c.VIP.Interface)
			}
		}},
		{"string present in the file", []string{"PGSWITCH_NODE_NAME=db-3", "PGSWITCH_POSTGRES_DSN=host=/tmp dbname=x"}, func(t *testing.T, c *config.Config) {
			if c.Node.Name != "db-3" || c.Postgres.DSN != "host=/tmp dbname=x" {
				t.Errorf("node.name %q, dsn %q", c.Node.Name, c.Postgres.DSN)
			}
		}},
		{"int", []string{"PGSWITCH_VIP_GARP_COUNT=7"}, func(t *testing.T, c *config.Config) {
			if c.VIP.GARPCount != 7 {
				t.Errorf("garp_count = %d, want 7", c.VIP.GARPCount)
			}
		}},
		{"int64", []string{"PGSWITCH_SWITCHOVER_MAX_LAG_BYTES=1048576"}, func(t *testing.T, c *config.Config) {
			if c.Switchover.MaxLagBytes != 1<<20 {
				t.Errorf("max_lag_bytes = %d", c.Switchover.MaxLagBytes)
			}
		}},
		{"duration", []string{"PGSWITCH_VIP_GARP_INTERVAL=50ms", "PGSWITCH_SERVICE_TIMEOUT=2m"}, func(t *testing.T, c *config.Config) {
			if c.VIP.GARPInterval != 50*time.Millisecond || c.Service.Timeout != 2*time.Minute {
				t.Errorf("garp_interval %s, service.timeout %s", c.VIP.GARPInterval, c.Service.Timeout)
			}
		}},
		{"bool true", []string{"PGSWITCH_REPLICATION_SYNCHRONOUS=true"}, func(t *testing.T, c *config.Config) {
			if !c.Replication.Synchronous {
				t.Error("synchronous = false")
			}
		}},
		{"bool 1", []string{"PGSWITCH_REPLICATION_SYNCHRONOUS=1"}, func(t *testing.T, c *config.Config) {
			if !c.Replication.Synchronous {
				t.Error("synchronous = false")
			}
		}},
		{"list as JSON array", []string{`PGSWITCH_SERVICE_START=["systemctl", "start", "my app.service"]`}, func(t *testing.T, c *config.Config) {
			if want := []string{"systemctl", "start", "my app.service"}; !slices.Equal(c.Service.Start, want) {
				t.Errorf("service.start = %q, want %q", c.Service.Start, want)
			}
		}},
		{"list as words", []string{"PGSWITCH_REPLICATION_TABLES=public.a  b\tbilling.c "}, func(t *testing.T, c *config.Config) {
			if want := []string{"public.a", "b", "billing.c"}; !slices.Equal(c.Replication.Tables, want) {
				t.Errorf("tables = %q, want %q", c.Replication.Tables, want)
			}
		}},
		{"empty JSON list", []string{"PGSWITCH_SERVICE_CHECK=[]"}, func(t *testing.T, c *config.Config) {
			if len(c.Service.Check) != 0 {
				t.Errorf("service.check = %q, want empty", c.Service.Check)
			}
		}},
		{"TLS instead of the file's token", []string{"PGSWITCH_SECURITY_TOKEN_FILE=", "PGSWITCH_SECURITY_TLS_CERT=/c", "PGSWITCH_SECURITY_TLS_KEY=/k", "PGSWITCH_SECURITY_TLS_CA=/ca"}, func(t *testing.T, c *config.Config) {
			if c.Security.TokenFile != "" || c.Security.TLSCA != "/ca" {
				t.Errorf("security = %+v", c.Security)
			}
		}},
		{"other variables are ignored", []string{"PATH=/bin", "PGSWITCH=1", "pgswitch_node_name=zz", "PGSWITCHX_A=1", "PGSWITCH_VIP_GARP_COUNT"}, func(t *testing.T, c *config.Config) {
			if c.Node.Name != "db-1" || c.VIP.GARPCount != 3 {
				t.Errorf("node.name %q garp_count %d: an unrelated variable changed the config", c.Node.Name, c.VIP.GARPCount)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, loadOK(t, minimal, tc.env...))
		})
	}
}

func TestEnvProblems(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want []string
	}{
		{"unknown variable", []string{"PGSWITCH_NODE_NAEM=x"}, []string{"PGSWITCH_NODE_NAEM"}},
		{"section only", []string{"PGSWITCH_NODE=x"}, []string{"PGSWITCH_NODE"}},
		{"lowercase key part", []string{"PGSWITCH_node_name=x"}, []string{"PGSWITCH_node_name"}},
		{"two unknown", []string{"PGSWITCH_A=1", "PGSWITCH_B=2"}, []string{"PGSWITCH_A", "PGSWITCH_B"}},
		{"not an int", []string{"PGSWITCH_VIP_GARP_COUNT=many"}, []string{"vip.garp_count"}},
		{"int with sign and space", []string{"PGSWITCH_VIP_GARP_COUNT=3 4"}, []string{"vip.garp_count"}},
		{"not a duration", []string{"PGSWITCH_SERVICE_TIMEOUT=10"}, []string{"service.timeout"}},
		{"not a bool", []string{"PGSWITCH_REPLICATION_SYNCHRONOUS=sometimes"}, []string{"replication.synchronous"}},
		{"broken JSON list", []string{`PGSWITCH_SERVICE_START=["systemctl",`}, []string{"PGSWITCH_SERVICE_START"}},
		{"JSON list of numbers", []string{`PGSWITCH_REPLICATION_TABLES=[1, 2]`}, []string{"PGSWITCH_REPLICATION_TABLES"}},
		{"invalid value", []string{"PGSWITCH_LOG_LEVEL=loud"}, []string{"log.level"}},
		{"empties a required key", []string{"PGSWITCH_PEER_API_URL="}, []string{"peer.api_url"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, _ := loadFail(t, minimal, tc.env...)
			if !slices.Equal(keys, tc.want) {
				t.Fatalf("problems at %q, want %q", keys, tc.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pgswitch.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSWITCH_LOG_FORMAT", "console")
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Log.Format != "console" || c.Node.Name != "db-1" {
		t.Errorf("log.format %q node.name %q: the environment or the file was not applied", c.Log.Format, c.Node.Name)
	}

	t.Setenv("PGSWITCH_LOG_FROMAT", "console")
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), "PGSWITCH_LOG_FROMAT") {
		t.Errorf("Load with an unknown variable: %v, want an error naming it", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	c, err := config.Load(path)
	if err == nil || c != nil {
		t.Fatalf("Load(missing) = %v, %v", c, err)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "--config" {
		t.Fatalf("error %v: want a *config.Error for --config", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestErrorFormat(t *testing.T) {
	inner := errors.New("boom")
	e := &config.Error{Key: "vip.address", Msg: "bad", Err: inner}
	if got, want := e.Error(), "config: vip.address: bad: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, inner) {
		t.Error("errors.Is does not reach the wrapped error")
	}
	if got, want := (&config.Error{Key: "log.level", Msg: "bad"}).Error(), "config: log.level: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestRedactDSN(t *testing.T) {
	cases := []struct {
		dsn    string
		want   string
		secret string
	}{
		{"host=h password=secret dbname=app", "host=h password=xxxxx dbname=app", "secret"},
		{"host=h password='se cret' dbname=app", "host=h password=xxxxx dbname=app", "cret"},
		{`host=h password='it\'s secret' user=u`, "host=h password=xxxxx user=u", "secret"},
		{"host=h password = secret", "host=h password = xxxxx", "secret"},
		{"host=h PASSWORD=secret", "host=h PASSWORD=xxxxx", "secret"},
		{"password=secret", "password=xxxxx", "secret"},
		{"postgres://u:secret@h/db", "postgres://u:xxxxx@h/db", "secret"},
		{"postgresql://u:secret@h:5432/db?sslmode=require", "postgresql://u:xxxxx@h:5432/db?sslmode=require", "secret"},
		{"postgres://h/db?password=secret", "postgres://h/db?password=xxxxx", "secret"},
		{"postgres://h/db?sslmode=disable&password=secret", "postgres://h/db?sslmode=disable&password=xxxxx", "secret"},
		{"postgres://u:se%40cret@h/db", "postgres://u:xxxxx@h/db", "cret"},
		{"host=h user=u dbname=app", "host=h user=u dbname=app", ""},
		{"postgres://u@h/db", "postgres://u@h/db", ""},
	}
	for _, tc := range cases {
		got := config.RedactDSN(tc.dsn)
		if got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
		if tc.secret != "" && strings.Contains(got, tc.secret) {
			t.Errorf("RedactDSN(%q) = %q still shows %q", tc.dsn, got, tc.secret)
		}
	}
}

// TestInvalidDSNHidesPassword: the problem reported for a DSN that does not
// parse never carries the password.
func TestInvalidDSNHidesPassword(t *testing.T) {
	const secret = "s3cr3tpw"
	for _, dsn := range []string{
		"host=h port=notaport password=" + secret,
		"password='" + secret + " x' port=notaport",
		"password = " + secret + " port=notaport",
		"postgres://u:" + secret + "@h:notaport/db",
		"postgres://u@h:notaport/db?password=" + secret,
		"postgres://u:" + secret + "@h/db?port=notaport",
		"host=h password=" + secret + " sslmode=bogus",
	} {
		t.Run(dsn, func(t *testing.T) {
			env := []string{"PGSWITCH_POSTGRES_DSN=" + dsn, "PGSWITCH_POSTGRES_PEER_DSN=" + dsn}
			keys, ps := loadFail(t, minimal, env...)
			if want := []string{"postgres.dsn", "postgres.peer_dsn"}; !slices.Equal(keys, want) {
				t.Fatalf("problems at %q, want %q", keys, want)
			}
			c, err := config.LoadBytes([]byte(minimal), env)
			if c != nil || err == nil {
				t.Fatal("invalid DSN accepted")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %v", err)
			}
			for _, p := range ps {
				if strings.Contains(p.Msg, secret) || (p.Err != nil && strings.Contains(p.Err.Error(), secret)) {
					t.Errorf("problem %s shows the password: %v", p.Key, p)
				}
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	c := loadOK(t, minimal,
		"PGSWITCH_POSTGRES_DSN=host=h password=hunter2hunter2",
		"PGSWITCH_POSTGRES_PEER_DSN=postgres://u:hunter3hunter3@h/db")
	out := c.Redacted()
	for _, s := range []string{"hunter2", "hunter3"} {
		if strings.Contains(out, s) {
			t.Errorf("Redacted shows the password %s:\n%s", s, out)
		}
	}
	for _, s := range []string{"postgres.dsn: host=h password=xxxxx", "postgres.peer_dsn: postgres://u:xxxxx@h/db", "node.name: db-1", "vip.garp_interval: 200ms"} {
		if !strings.Contains(out, s) {
			t.Errorf("Redacted lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(c.Postgres.DSN, "hunter2") {
		t.Error("Redacted changed the configuration itself")
	}
}

func TestSQLNames(t *testing.T) {
	cases := []struct {
		node, peer                      string
		slot, peerSlot, origin, appName string
	}{
		{"db-1", "db-2", "pgswitch_db_1", "pgswitch_db_2", "pgswitch_from_db_2", "pgswitch_db_1"},
		{"a", "b", "pgswitch_a", "pgswitch_b", "pgswitch_from_b", "pgswitch_a"},
		{"east-1-a", "west_2", "pgswitch_east_1_a", "pgswitch_west_2", "pgswitch_from_west_2", "pgswitch_east_1_a"},
	}
	for _, tc := range cases {
		c := &config.Config{Node: config.NodeConfig{Name: tc.node}, Peer: config.PeerConfig{Name: tc.peer}}
		got := []string{c.SlotName(), c.PeerSlotName(), c.OriginName(), c.ApplicationName()}
		want := []string{tc.slot, tc.peerSlot, tc.origin, tc.appName}
		if !slices.Equal(got, want) {
			t.Errorf("node %s peer %s: slot, peer slot, origin, application = %q, want %q", tc.node, tc.peer, got, want)
		}
	}
	// The peer's SlotName is this node's PeerSlotName.
	a := &config.Config{Node: config.NodeConfig{Name: "db-1"}, Peer: config.PeerConfig{Name: "db-2"}}
	b := &config.Config{Node: config.NodeConfig{Name: "db-2"}, Peer: config.PeerConfig{Name: "db-1"}}
	if a.PeerSlotName() != b.SlotName() || b.PeerSlotName() != a.SlotName() {
		t.Errorf("slot names do not pair up: %s/%s vs %s/%s", a.SlotName(), a.PeerSlotName(), b.SlotName(), b.PeerSlotName())
	}
}

func TestParseLevel(t *testing.T) {
	for s, want := range map[string]zerolog.Level{
		"debug": zerolog.DebugLevel, "info": zerolog.InfoLevel, "warn": zerolog.WarnLevel, "error": zerolog.ErrorLevel,
	} {
		got, err := config.ParseLevel(s)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "trace", "warning", "Info", "fatal"} {
		if _, err := config.ParseLevel(s); err == nil {
			t.Errorf("ParseLevel(%q) accepted", s)
		}
	}
}

func TestLogger(t *testing.T) {
	c := loadOK(t, minimal, "PGSWITCH_LOG_LEVEL=warn")
	var buf bytes.Buffer
	log := c.Logger(&buf)
	log.Info().Msg("quiet")
	log.Warn().Msg("loud")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("at level warn, got %d lines:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("json format: %v: %s", err, lines[0])
	}
	if rec["node"] != "db-1" || rec["message"] != "loud" || rec["level"] != "warn" || rec["time"] == nil {
		t.Errorf("record %v: want node db-1, message loud, level warn and a time", rec)
	}

	c = loadOK(t, minimal, "PGSWITCH_LOG_FORMAT=console", "PGSWITCH_LOG_LEVEL=debug")
	buf.Reset()
	log = c.Logger(&buf)
	log.Debug().Msg("hello console")
	out := buf.String()
	if strings.HasPrefix(out, "{") || !strings.Contains(out, "hello console") || !strings.Contains(out, "db-1") {
		t.Errorf("console format output %q", out)
	}
}

func TestExampleConfig(t *testing.T) {
	const path = "testdata/example.yaml"
	c, err := config.LoadBytes(mustRead(t, path), nil)
	if err != nil {
		t.Fatalf("%s does not load: %v", path, err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"node.name", c.Node.Name, "db-1"},
		{"peer.name", c.Peer.Name, "db-2"},
		{"security.token_file", c.Security.TokenFile, "/etc/pgswitch/token"},
		{"vip.address", c.VIP.Address, "10.0.0.100/24"},
		{"vip.interface", c.VIP.Interface, "eth0"},
		{"service.start[0]", c.Service.Start[0], "systemctl"},
		{"service.stop[0]", c.Service.Stop[0], "systemctl"},
		{"service.check[0]", c.Service.Check[0], "systemctl"},
		{"vip.garp_interval", c.VIP.GARPInterval, 200 * time.Millisecond},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}

	// Every key pgswitch knows (Redacted lists them all) is in the example,
	// and nothing else.
	var known []string
	for _, line := range strings.Split(strings.TrimSpace(c.Redacted()), "\n") {
		k, _, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("Redacted line %q", line)
		}
		known = append(known, k)
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(mustRead(t, path))); err != nil {
		t.Fatal(err)
	}
	inFile := v.AllKeys()
	sort.Strings(known)
	sort.Strings(inFile)
	if !slices.Equal(known, inFile) {
		t.Errorf("keys of the example %q\ndiffer from the known keys %q", inFile, known)
	}

	// Fully commented: every key line follows a comment line.
	lines := strings.Split(string(mustRead(t, path)), "\n")
	for i, line := range lines {
		s := strings.TrimSpace(line)
		if s == "" || strings.HasPrefix(s, "#") || strings.HasPrefix(s, "- ") {
			continue
		}
		if i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
			t.Errorf("%s:%d: %q has no comment above it", path, i+1, s)
		}
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
