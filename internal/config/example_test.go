package config_test

import (
	"bytes"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"

	"github.com/pgswitch/pgswitch/internal/config"
)

// TestExampleConfig: testdata/example.yaml, the example shipped to
// operators, loads, sets every key and explains each one.
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
		{"node.name", c.Node.Name, "node-a"},
		{"node.api_listen", c.Node.APIListen, "10.0.0.11:7480"},
		{"peer.name", c.Peer.Name, "node-b"},
		{"peer.api_url", c.Peer.APIURL, "https://10.0.0.12:7480"},
		{"postgres.dsn", c.Postgres.DSN, "host=/var/run/postgresql dbname=app user=pgswitch"},
		{"replication.tables", c.Replication.Tables, []string(nil)},
		{"vip.address", c.VIP.Address, "10.0.0.100/24"},
		{"vip.interface", c.VIP.Interface, "eth0"},
		{"vip.garp_interval", c.VIP.GARPInterval, 200 * time.Millisecond},
		{"service.start", c.Service.Start, []string{"systemctl", "start", "pgbouncer"}},
		{"service.stop", c.Service.Stop, []string{"systemctl", "stop", "pgbouncer"}},
		{"switchover.max_lag_bytes", c.Switchover.MaxLagBytes, int64(16 << 20)},
		{"security.token_file", c.Security.TokenFile, "/etc/pgswitch/token"},
		{"security.tls_cert", c.Security.TLSCert, ""},
		{"SlotName", c.SlotName(), "pgswitch_node_a"},
		{"PeerSlotName", c.PeerSlotName(), "pgswitch_node_b"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}

	// Every key pgswitch knows (Redacted lists them all) is in the example,
	// and nothing else.
	if known, inFile := yamlKeys(t, []byte(c.Redacted())), yamlKeys(t, mustRead(t, path)); !slices.Equal(known, inFile) {
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

// yamlKeys lists the keys of a YAML configuration, sorted.
func yamlKeys(t *testing.T, data []byte) []string {
	t.Helper()
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	keys := v.AllKeys()
	sort.Strings(keys)
	return keys
}
