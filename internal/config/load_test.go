package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/internal/config"
)

func TestDefaults(t *testing.T) {
	c := loadOK(t, minimal)
	checks := []struct {
		name      string
		got, want any
	}{
		{"node.state_dir", c.Node.StateDir, "/var/lib/pgswitch/db-1"},
		{"replication.publication", c.Replication.Publication, "pgswitch"},
		{"replication.tables", len(c.Replication.Tables), 0},
		{"replication.synchronous", c.Replication.Synchronous, false},
		{"replication.group_max", c.Replication.GroupMax, 64},
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

// TestNoValueIsDefault: an empty section, or a key with no value, takes the
// defaults.
func TestNoValueIsDefault(t *testing.T) {
	c := loadOK(t, minimal+"vip:\nlog:\n  level:\n  format: ~\nswitchover:\n  step_timeout: null\n")
	if c.VIP.GARPCount != 3 || c.Log.Level != "info" || c.Log.Format != "json" || c.Switchover.StepTimeout != 10*time.Second {
		t.Errorf("garp_count %d, log %q/%q, step_timeout %s; want the defaults",
			c.VIP.GARPCount, c.Log.Level, c.Log.Format, c.Switchover.StepTimeout)
	}
}

func TestUnknownKeys(t *testing.T) {
	cases := []struct {
		name string
		data string
		want []string
		msg  string // part of the first problem's message
	}{
		{"unknown section", minimal + "nodes:\n  name: x\n", []string{"nodes"}, "unknown section (line 12)"},
		{"misspelt section", minimal + "replicaton:\n  publication: x\n", []string{"replicaton"}, "did you mean replication?"},
		{"unknown top-level scalar", minimal + "debug: true\n", []string{"debug"}, "unknown section"},
		{"unknown key in known section", edit(t, "  api_listen:", "  api_lisen: x\n  api_listen:"), []string{"node.api_lisen"}, "unknown key (line 3) (did you mean api_listen?)"},
		{"unknown key in a section absent otherwise", minimal + "vip:\n  adress: 10.0.0.1/24\n", []string{"vip.adress"}, "unknown key"},
		{"nested mapping under a section", minimal + "vip:\n  garp:\n    count: 3\n", []string{"vip.garp"}, "unknown key"},
		{"key with a dot", edit(t, "  api_listen:", "  name.sub: x\n  api_listen:"), []string{"node.name.sub"}, "unknown key"},
		{"dotted section.key at the top", minimal + "vip.address: 10.0.0.1/24\n", []string{"vip.address"}, "unknown section"},
		{"section as scalar", minimal + "log: debug\n", []string{"log"}, "mapping"},
		{"section as list", minimal + "vip:\n  - 10.0.0.1/24\n", []string{"vip"}, "mapping"},
		{"two unknown keys", minimal + "vip:\n  adress: x\n  iface: eth0\n", []string{"vip.adress", "vip.iface"}, "unknown key"},
		{"unknown at both levels", minimal + "extra:\n  a: 1\nlog:\n  colour: true\n", []string{"extra", "log.colour"}, ""},
		{"empty unknown section", minimal + "extra:\n", []string{"extra"}, "unknown section"},
		{"list as a key", minimal + "vip:\n  ? [a]\n  : x\n", []string{"vip"}, "plain names"},
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

// TestDuplicateKeys: viper folds keys to lower case; two keys that fold to
// the same one are an error, not a silent (and random) choice.
func TestDuplicateKeys(t *testing.T) {
	cases := []struct {
		name string
		data string
		want string
	}{
		{"same key twice", edit(t, "  name: db-1\n", "  name: db-1\n  name: db-3\n"), "node.name"},
		{"key in another case", edit(t, "  name: db-1\n", "  name: db-1\n  NAME: db-3\n"), "node.NAME"},
		{"section in another case", minimal + "NODE:\n  state_dir: /x\n", "NODE"},
		{"section twice", minimal + "security:\n  tls_ca: /ca\n", "security"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, ps := loadFail(t, tc.data)
			if !slices.Equal(keys, []string{tc.want}) {
				t.Fatalf("problems at %q, want [%s]", keys, tc.want)
			}
			if !strings.Contains(ps[0].Msg, "twice") {
				t.Errorf("message %q does not say the key is given twice", ps[0].Msg)
			}
		})
	}
}

// TestKeysInAnotherCase: a key written in another case is the key (viper's
// keys are case-insensitive).
func TestKeysInAnotherCase(t *testing.T) {
	c := loadOK(t, minimal+"Log:\n  LEVEL: debug\n")
	if c.Log.Level != "debug" {
		t.Errorf("log.level = %q, want debug", c.Log.Level)
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

func TestSecondDocument(t *testing.T) {
	keys, ps := loadFail(t, minimal+"---\nlog:\n  level: debug\n")
	if !slices.Equal(keys, []string{"(file)"}) || !strings.Contains(ps[0].Msg, "more than one YAML document") {
		t.Errorf("problems %v, want one about a second document", ps)
	}
}

func TestEmptyFile(t *testing.T) {
	for _, data := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		keys, _ := loadFail(t, data)
		want := []string{"node.api_listen", "node.name", "peer.api_url", "peer.name", "postgres.dsn", "postgres.peer_dsn", "security.token_file"}
		if !slices.Equal(keys, want) {
			t.Errorf("%q: problems at %q, want the keys without defaults %q", data, keys, want)
		}
	}
	// and the environment alone can configure everything
	c := loadOK(t, "", "PGSWITCH_NODE_NAME=a", "PGSWITCH_NODE_API_LISTEN=:1", "PGSWITCH_PEER_NAME=b",
		"PGSWITCH_PEER_API_URL=http://b:1", "PGSWITCH_POSTGRES_DSN=host=a", "PGSWITCH_POSTGRES_PEER_DSN=host=b",
		"PGSWITCH_SECURITY_TOKEN_FILE=/t")
	if c.Node.Name != "a" || c.Peer.APIURL != "http://b:1" {
		t.Errorf("config from the environment: %+v", c)
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
		{"bool for int", minimal + "vip:\n  garp_count: true\n", "vip.garp_count"},
		{"string for int64", minimal + "switchover:\n  max_lag_bytes: 16MB\n", "switchover.max_lag_bytes"},
		{"beyond int64", minimal + "switchover:\n  max_lag_bytes: 18446744073709551615\n", "switchover.max_lag_bytes"},
		{"float beyond exact", minimal + "switchover:\n  max_lag_bytes: 1e300\n", "switchover.max_lag_bytes"},
		{"int for duration without unit", minimal + "vip:\n  garp_interval: 200\n", "vip.garp_interval"},
		{"int for timeout without unit", minimal + "service:\n  timeout: 10\n", "service.timeout"},
		{"float for duration", minimal + "switchover:\n  step_timeout: 1.5\n", "switchover.step_timeout"},
		{"bad duration string", minimal + "switchover:\n  catchup_timeout: 30 seconds\n", "switchover.catchup_timeout"},
		{"word for duration", minimal + "switchover:\n  step_timeout: fast\n", "switchover.step_timeout"},
		{"list for duration", minimal + "switchover:\n  catchup_timeout: [30s]\n", "switchover.catchup_timeout"},
		{"list for string", minimal + "log:\n  level: [debug]\n", "log.level"},
		{"mapping for string", minimal + "log:\n  format: {a: b}\n", "log.format"},
		{"binary for string", minimal + "log:\n  format: !!binary anNvbg==\n", "log.format"},
		{"scalar for list", minimal + "service:\n  start: systemctl start app\n", "service.start"},
		{"mapping for list", minimal + "replication:\n  tables: {public: t}\n", "replication.tables"},
		{"null item in list", minimal + "service:\n  stop: [systemctl, null]\n", "service.stop"},
		{"list in list", minimal + "service:\n  stop: [systemctl, [stop]]\n", "service.stop"},
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
			// The message says where the value is.
			if !strings.Contains(ps[0].Msg, "(line 1") {
				t.Errorf("message %q does not give the line", ps[0].Msg)
			}
		})
	}
}

// TestAcceptedForms: values of another YAML type that have one obvious
// meaning are taken, and a string key keeps its text exactly as written.
func TestAcceptedForms(t *testing.T) {
	c := loadOK(t, edit(t, "name: db-2", "name: 0123")+`vip:
  garp_count: 5.0
  garp_interval: 0
  interface: 1_0
replication:
  synchronous: "yes"
  tables: [t1, s.t2]
service:
  start: [systemctl, start, 0x1F, 1e3, true, 2024-01-01]
  timeout: " 1m30s "
switchover:
  max_lag_bytes: 1e6
  step_timeout: !!str 5s
`)
	checks := []struct {
		name      string
		got, want any
	}{
		{"peer.name", c.Peer.Name, "0123"},
		{"vip.garp_count", c.VIP.GARPCount, 5},
		{"vip.garp_interval", c.VIP.GARPInterval, time.Duration(0)},
		{"vip.interface", c.VIP.Interface, "1_0"},
		{"replication.synchronous", c.Replication.Synchronous, true},
		{"replication.tables", c.Replication.Tables, []string{"t1", "s.t2"}},
		{"service.start", c.Service.Start, []string{"systemctl", "start", "0x1F", "1e3", "true", "2024-01-01"}},
		{"service.timeout", c.Service.Timeout, 90 * time.Second},
		{"switchover.max_lag_bytes", c.Switchover.MaxLagBytes, int64(1000000)},
		{"switchover.step_timeout", c.Switchover.StepTimeout, 5 * time.Second},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

// TestAnchorsAndMerges: YAML anchors, aliases and merge keys work as in
// YAML; the mapping's own keys override merged ones.
func TestAnchorsAndMerges(t *testing.T) {
	c := loadOK(t, minimal+`vip:
  interface: &iface eth1
  address: 10.0.0.100/24
service:
  start: &cmd [systemctl, restart, app]
  check: *cmd
  <<: &svc {timeout: 3s, stop: [systemctl, stop, app]}
switchover:
  <<: [{step_timeout: 4s}, {step_timeout: 5s, catchup_timeout: 6s}]
  catchup_timeout: 7s
log:
  <<: {level: debug}
`)
	if c.VIP.Interface != "eth1" || !slices.Equal(c.Service.Check, []string{"systemctl", "restart", "app"}) ||
		c.Service.Timeout != 3*time.Second || !slices.Equal(c.Service.Stop, []string{"systemctl", "stop", "app"}) ||
		c.Switchover.StepTimeout != 4*time.Second || c.Switchover.CatchupTimeout != 7*time.Second || c.Log.Level != "debug" {
		t.Errorf("anchors and merges not applied: %+v", c)
	}

	// An unknown key brought by a merge is reported too.
	keys, _ := loadFail(t, minimal+"log:\n  <<: {levle: debug}\n")
	if !slices.Equal(keys, []string{"log.levle"}) {
		t.Errorf("problems at %q, want [log.levle]", keys)
	}
	// Merging something that is not a mapping is a problem.
	keys, _ = loadFail(t, minimal+"log:\n  <<: [debug]\n")
	if !slices.Equal(keys, []string{"log"}) {
		t.Errorf("problems at %q, want [log]", keys)
	}
	// So are a mapping that merges itself and one that is its own value.
	for _, data := range []string{"log: &x {<<: *x}\n", "log: &x {level: *x}\n"} {
		keys, _ = loadFail(t, minimal+data)
		if len(keys) != 1 || !strings.HasPrefix(keys[0], "log") {
			t.Errorf("%q: problems at %q, want one about log", data, keys)
		}
	}
}

// TestMergeBomb: merges that multiply (each merging many copies of the
// last) are cut short instead of taking exponential time.
func TestMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {x: 1, y: 2}\n")
	for i := 1; i <= 12; i++ {
		prev := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "a%d: &a%d {<<: [%s%s]}\n", i, i, strings.Repeat(prev+", ", 9), prev)
	}
	b.WriteString("log: {<<: *a12}\n")
	start := time.Now()
	_, err := config.LoadBytes([]byte(b.String()), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestEnvOverrides(t *testing.T) {
	cases := []struct {
		name  string
		env   []string
		check func(t *testing.T, c *config.Config)
	}{
		{"strings absent from the file", []string{"PGSWITCH_VIP_ADDRESS=fd00::100/64", "PGSWITCH_VIP_INTERFACE=eth1"}, func(t *testing.T, c *config.Config) {
			if c.VIP.Address != "fd00::100/64" || c.VIP.Interface != "eth1" {
				t.Errorf("vip = %q on %q", c.VIP.Address, c.VIP.Interface)
			}
		}},
		{"strings present in the file", []string{"PGSWITCH_NODE_NAME=db-3", "PGSWITCH_POSTGRES_DSN=host=/tmp dbname=x"}, func(t *testing.T, c *config.Config) {
			if c.Node.Name != "db-3" || c.Postgres.DSN != "host=/tmp dbname=x" {
				t.Errorf("node.name %q, dsn %q", c.Node.Name, c.Postgres.DSN)
			}
		}},
		{"key with an underscore", []string{"PGSWITCH_NODE_API_LISTEN=127.0.0.1:9000"}, func(t *testing.T, c *config.Config) {
			if c.Node.APIListen != "127.0.0.1:9000" {
				t.Errorf("node.api_listen = %q", c.Node.APIListen)
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
		{"empty list", []string{"PGSWITCH_SERVICE_CHECK="}, func(t *testing.T, c *config.Config) {
			if len(c.Service.Check) != 0 {
				t.Errorf("service.check = %q, want empty", c.Service.Check)
			}
		}},
		{"empty string clears the file's value", []string{"PGSWITCH_SECURITY_TOKEN_FILE=", "PGSWITCH_SECURITY_TLS_CERT=/c", "PGSWITCH_SECURITY_TLS_KEY=/k", "PGSWITCH_SECURITY_TLS_CA=/ca"}, func(t *testing.T, c *config.Config) {
			if c.Security.TokenFile != "" || c.Security.TLSCA != "/ca" {
				t.Errorf("security = %+v", c.Security)
			}
		}},
		{"first of two wins", []string{"PGSWITCH_LOG_LEVEL=warn", "PGSWITCH_LOG_LEVEL=debug"}, func(t *testing.T, c *config.Config) {
			if c.Log.Level != "warn" {
				t.Errorf("log.level = %q, want warn", c.Log.Level)
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

// TestEnvOverridesFile: the environment wins over the file.
func TestEnvOverridesFile(t *testing.T) {
	c := loadOK(t, minimal+"vip:\n  garp_count: 9\nservice:\n  start: [a, b]\n",
		"PGSWITCH_VIP_GARP_COUNT=4", "PGSWITCH_SERVICE_START=c d")
	if c.VIP.GARPCount != 4 || !slices.Equal(c.Service.Start, []string{"c", "d"}) {
		t.Errorf("garp_count %d, service.start %q: want the environment's", c.VIP.GARPCount, c.Service.Start)
	}
	// An environment value also replaces a file value of the wrong type.
	loadOK(t, minimal+"vip:\n  garp_count: many\n", "PGSWITCH_VIP_GARP_COUNT=4")
}

func TestEnvProblems(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want []string
		msg  string
	}{
		{"unknown variable", []string{"PGSWITCH_NODE_NAEM=x"}, []string{"PGSWITCH_NODE_NAEM"}, "did you mean PGSWITCH_NODE_NAME?"},
		{"misspelt key", []string{"PGSWITCH_VIP_ADRESS=10.0.0.1/24"}, []string{"PGSWITCH_VIP_ADRESS"}, "matches no configuration key"},
		{"section only", []string{"PGSWITCH_NODE=x"}, []string{"PGSWITCH_NODE"}, ""},
		{"prefix only", []string{"PGSWITCH_=x"}, []string{"PGSWITCH_"}, ""},
		{"lowercase key part", []string{"PGSWITCH_node_name=x"}, []string{"PGSWITCH_node_name"}, ""},
		{"two unknown", []string{"PGSWITCH_A=1", "PGSWITCH_B=2"}, []string{"PGSWITCH_A", "PGSWITCH_B"}, ""},
		{"not an int", []string{"PGSWITCH_VIP_GARP_COUNT=many"}, []string{"vip.garp_count"}, "(from PGSWITCH_VIP_GARP_COUNT)"},
		{"two ints", []string{"PGSWITCH_VIP_GARP_COUNT=3 4"}, []string{"vip.garp_count"}, ""},
		{"empty int", []string{"PGSWITCH_VIP_GARP_COUNT="}, []string{"vip.garp_count"}, ""},
		{"hex int", []string{"PGSWITCH_VIP_GARP_COUNT=0x10"}, []string{"vip.garp_count"}, ""},
		{"beyond int64", []string{"PGSWITCH_SWITCHOVER_MAX_LAG_BYTES=99999999999999999999"}, []string{"switchover.max_lag_bytes"}, "range"},
		{"not a duration", []string{"PGSWITCH_SERVICE_TIMEOUT=10"}, []string{"service.timeout"}, "unit"},
		{"not a bool", []string{"PGSWITCH_REPLICATION_SYNCHRONOUS=sometimes"}, []string{"replication.synchronous"}, ""},
		{"empty bool", []string{"PGSWITCH_REPLICATION_SYNCHRONOUS="}, []string{"replication.synchronous"}, ""},
		{"broken JSON list", []string{`PGSWITCH_SERVICE_START=["systemctl",`}, []string{"service.start"}, "(from PGSWITCH_SERVICE_START)"},
		{"JSON list of numbers", []string{`PGSWITCH_REPLICATION_TABLES=[1, 2]`}, []string{"replication.tables"}, "JSON array"},
		{"JSON list with null", []string{`PGSWITCH_SERVICE_STOP=["a", null]`}, []string{"service.stop"}, ""},
		{"invalid value", []string{"PGSWITCH_LOG_LEVEL=loud"}, []string{"log.level"}, ""},
		{"empties a required key", []string{"PGSWITCH_PEER_API_URL="}, []string{"peer.api_url"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, ps := loadFail(t, minimal, tc.env...)
			if !slices.Equal(keys, tc.want) {
				t.Fatalf("problems at %q, want %q", keys, tc.want)
			}
			if !strings.Contains(ps[0].Error(), tc.msg) {
				t.Errorf("%q does not say %q", ps[0].Error(), tc.msg)
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
	_, err = config.Load(path)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "PGSWITCH_LOG_FROMAT" {
		t.Errorf("Load with an unknown variable: %v, want a *config.Error naming it", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	c, err := config.Load(path)
	if err == nil || c != nil {
		t.Fatalf("Load(missing) = %v, %v", c, err)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != path {
		t.Fatalf("error %v: want a *config.Error naming the file", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap os.ErrNotExist", err)
	}
	if strings.Count(err.Error(), path) != 1 {
		t.Errorf("error %q does not name the file once", err)
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
