package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/internal/config"
)

// TestValidate covers every rule of Validate: each case changes a valid
// configuration and names exactly the keys that must be reported (none for a
// value that must be accepted).
func TestValidate(t *testing.T) {
	long := strings.Repeat("a", 40)
	cases := []validateCase{
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
		{"api_listen all addresses", func(c *config.Config) { c.Node.APIListen = ":7480" }, nil},
		{"api_listen port with sign", func(c *config.Config) { c.Node.APIListen = ":+7480" }, []string{"node.api_listen"}},
		{"api_listen ipv6 with zone", func(c *config.Config) { c.Node.APIListen = "[fe80::1%eth0]:7480" }, nil},
		{"api_listen bad host and port", func(c *config.Config) { c.Node.APIListen = "a b:x" }, []string{"node.api_listen", "node.api_listen"}},

		// node.state_dir

		// peer.api_url
		{"api_url empty", func(c *config.Config) { c.Peer.APIURL = "" }, []string{"peer.api_url"}},
		{"api_url without scheme", func(c *config.Config) { c.Peer.APIURL = "db-2:7400" }, []string{"peer.api_url"}},
		{"api_url ftp", func(c *config.Config) { c.Peer.APIURL = "ftp://db-2:7400" }, []string{"peer.api_url"}},
		{"api_url without port", func(c *config.Config) { c.Peer.APIURL = "https://db-2" }, []string{"peer.api_url"}},
		{"api_url not a URL", func(c *config.Config) { c.Peer.APIURL = "http://db 2:7400" }, []string{"peer.api_url"}},
		{"api_url https ipv6", func(c *config.Config) { c.Peer.APIURL = "https://[fd00::2]:7400" }, nil},
		{"api_url with path", func(c *config.Config) { c.Peer.APIURL = "http://10.0.0.2:7400/" }, nil},
		{"api_url port 0", func(c *config.Config) { c.Peer.APIURL = "https://db-2:0" }, []string{"peer.api_url"}},
		{"api_url with credentials", func(c *config.Config) { c.Peer.APIURL = "https://u:p@db-2:7400" }, []string{"peer.api_url"}},
		{"api_url with query", func(c *config.Config) { c.Peer.APIURL = "https://db-2:7400/?x=1" }, []string{"peer.api_url"}},
		{"api_url with fragment", func(c *config.Config) { c.Peer.APIURL = "https://db-2:7400#x" }, []string{"peer.api_url"}},
		{"api_url without host", func(c *config.Config) { c.Peer.APIURL = "https://:7400" }, []string{"peer.api_url"}},

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
		{"table listed with and without public", func(c *config.Config) { c.Replication.Tables = []string{"t", "public.t"} }, []string{"replication.tables"}},
		{"same name in two schemas", func(c *config.Config) { c.Replication.Tables = []string{"a.t", "b.t", "t"} }, nil},
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
		{"vip interface too long", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "10.0.0.100/24", "eth0123456789012" }, []string{"vip.interface"}},
		{"vip interface with slash", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "10.0.0.100/24", "eth/0" }, []string{"vip.interface"}},
		{"vip interface 15 chars", func(c *config.Config) { c.VIP.Address, c.VIP.Interface = "10.0.0.100/24", "enp0s31f6.10000" }, nil},

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
		{"service.timeout negative", func(c *config.Config) { c.Service.Timeout = -time.Second }, []string{"service.timeout"}},

		// switchover
		{"max_lag_bytes negative", func(c *config.Config) { c.Switchover.MaxLagBytes = -1 }, []string{"switchover.max_lag_bytes"}},
		{"max_lag_bytes 0", func(c *config.Config) { c.Switchover.MaxLagBytes = 0 }, nil},
		{"catchup_timeout negative", func(c *config.Config) { c.Switchover.CatchupTimeout = -time.Second }, []string{"switchover.catchup_timeout"}},
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
		}, []string{"security.tls_ca"}},
		{"token and only tls_ca", func(c *config.Config) { c.Security.TLSCA = "ca.pem" }, []string{"security.tls_cert", "security.tls_key"}},
		{"partial TLS without token", func(c *config.Config) {
			c.Security = config.SecurityConfig{TLSCert: "c.pem"}
		}, []string{"security.tls_ca", "security.tls_key"}},
		{"TLS key and CA without cert or token", func(c *config.Config) {
			c.Security = config.SecurityConfig{TLSKey: "k.pem", TLSCA: "ca.pem"}
		}, []string{"security.tls_cert"}},

		// log
		{"log level debug", func(c *config.Config) { c.Log.Level = "debug" }, nil},
		{"log level warn", func(c *config.Config) { c.Log.Level = "warn" }, nil},
		{"log level error", func(c *config.Config) { c.Log.Level = "error" }, nil},
		{"log level unknown", func(c *config.Config) { c.Log.Level = "verbose" }, []string{"log.level"}},
		{"log level uppercase", func(c *config.Config) { c.Log.Level = "INFO" }, []string{"log.level"}},
		{"log format console", func(c *config.Config) { c.Log.Format = "console" }, nil},
		{"log format text", func(c *config.Config) { c.Log.Format = "text" }, []string{"log.format"}},
	}
	runValidateCases(t, cases)
}

// validateCase is one mutation of the minimal config and the keys of the
// problems it must raise, sorted (nil = valid).
type validateCase struct {
	name   string
	mutate func(c *config.Config)
	want   []string
}

// runValidateCases checks each case's problems, and that each problem names
// its key and says what is wrong.
func runValidateCases(t *testing.T, cases []validateCase) {
	t.Helper()
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

// TestValidateOfZeroConfig: Validate of an empty Config names exactly the
// keys that have no default, each once.
func TestValidateOfZeroConfig(t *testing.T) {
	c := &config.Config{}
	got := keysOf(problems(t, c.Validate()))
	want := []string{"node.api_listen", "node.name", "peer.api_url", "peer.name",
		"postgres.dsn", "postgres.peer_dsn", "security.token_file"}
	if !slices.Equal(got, want) {
		t.Errorf("problems at %q, want %q", got, want)
	}
}

// TestValidateFillsDefaults: a Config built in code gets the defaults of the
// keys it leaves at zero, except where zero is a setting of its own.
func TestValidateFillsDefaults(t *testing.T) {
	c := &config.Config{
		Node:     config.NodeConfig{Name: "a", APIListen: ":7480"},
		Peer:     config.PeerConfig{Name: "b", APIURL: "http://b:7480"},
		Postgres: config.PostgresConfig{DSN: "host=a", PeerDSN: "host=b"},
		Security: config.SecurityConfig{TokenFile: "/t"},
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	filled := loadOK(t, minimal)
	checks := []struct {
		name      string
		got, want any
	}{
		{"node.state_dir", c.Node.StateDir, "/var/lib/pgswitch/a"},
		{"replication.publication", c.Replication.Publication, filled.Replication.Publication},
		{"service.timeout", c.Service.Timeout, filled.Service.Timeout},
		{"switchover.catchup_timeout", c.Switchover.CatchupTimeout, filled.Switchover.CatchupTimeout},
		{"switchover.step_timeout", c.Switchover.StepTimeout, filled.Switchover.StepTimeout},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "json"},
		// zero is a setting of its own here
		{"vip.garp_count", c.VIP.GARPCount, 0},
		{"vip.garp_interval", c.VIP.GARPInterval, time.Duration(0)},
		{"switchover.max_lag_bytes", c.Switchover.MaxLagBytes, int64(0)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %#v after Validate, want %#v", ch.name, ch.got, ch.want)
		}
	}

	// Validate leaves a valid configuration as it is.
	before := c.Redacted()
	if err := c.Validate(); err != nil || c.Redacted() != before {
		t.Errorf("second Validate: %v; changed:\n%s\nto\n%s", err, before, c.Redacted())
	}
}

// TestExplicitZeroIsAProblem: in the file or the environment, a zero where
// zero is no setting is a mistake that is reported, not replaced by the
// default as Validate does for a Config built in code.
func TestExplicitZeroIsAProblem(t *testing.T) {
	cases := []struct {
		data string
		env  []string
		want string
	}{
		{edit(t, "  api_listen: \":7400\"\n", "  api_listen: \":7400\"\n  state_dir: \"\"\n"), nil, "node.state_dir"},
		{minimal + "replication:\n  publication: ''\n", nil, "replication.publication"},
		{minimal + "service:\n  timeout: 0s\n", nil, "service.timeout"},
		{minimal, []string{"PGSWITCH_SWITCHOVER_CATCHUP_TIMEOUT=0s"}, "switchover.catchup_timeout"},
		{minimal, []string{"PGSWITCH_SWITCHOVER_STEP_TIMEOUT=0"}, "switchover.step_timeout"},
		{minimal, []string{"PGSWITCH_LOG_LEVEL="}, "log.level"},
		{minimal, []string{"PGSWITCH_LOG_FORMAT="}, "log.format"},
	}
	for _, tc := range cases {
		keys, _ := loadFail(t, tc.data, tc.env...)
		if !slices.Equal(keys, []string{tc.want}) {
			t.Errorf("%q %q: problems at %q, want [%s]", tc.data, tc.env, keys, tc.want)
		}
	}
}

// TestLoadReportsEverything: problems of every kind (unknown keys, values
// that do not decode, invalid values, unknown variables) come back together,
// each once, and a value that does not decode is not reported again as
// invalid.
func TestLoadReportsEverything(t *testing.T) {
	data := edit(t, "  name: db-1\n", "  name: db-1\n  nmae: x\n") +
		"vip:\n  garp_count: three\n  garp_interval: 1m\nlog:\n  level: loud\n  format: [json]\nextra:\n"
	keys, ps := loadFail(t, data, "PGSWITCH_LOG_LEVLE=debug", "PGSWITCH_PEER_NAME=db-1")
	want := []string{"PGSWITCH_LOG_LEVLE", "extra", "log.format", "log.level", "node.nmae", "peer.name", "vip.garp_count", "vip.garp_interval"}
	if !slices.Equal(keys, want) {
		t.Fatalf("problems at %q, want %q", keys, want)
	}
	for _, p := range ps {
		if p.Msg == "" {
			t.Errorf("problem at %s has no message", p.Key)
		}
	}
}
