package pgutil

import (
	"maps"
	"strings"
	"testing"
	"time"
)

// fixed are the session settings every connection gets whatever the DSN says.
var fixed = map[string]string{
	"DateStyle":          "ISO",
	"IntervalStyle":      "postgres",
	"extra_float_digits": "3",
	"TimeZone":           "UTC",
	"bytea_output":       "hex",
}

func TestConfigRuntimeParams(t *testing.T) {
	with := func(extra map[string]string) map[string]string {
		m := maps.Clone(fixed)
		maps.Copy(m, extra)
		return m
	}
	for _, tc := range []struct {
		name string
		dsn  string
		opts Options
		want map[string]string
	}{
		{"zero options", "host=h", Options{}, with(nil)},
		{"application_name from the DSN is kept", "host=h application_name=fromdsn", Options{},
			with(map[string]string{"application_name": "fromdsn"})},
		{"AppName overrides the DSN's", "host=h application_name=fromdsn", Options{AppName: "pgswitch_a"},
			with(map[string]string{"application_name": "pgswitch_a"})},
		{"replication", "host=h", Options{Replication: true},
			with(map[string]string{"replication": "database"})},
		{"writable", "host=h", Options{Writable: true},
			with(map[string]string{"default_transaction_read_only": "off"})},
		{"fixed settings override the DSN", "host=h TimeZone=Europe/Paris DateStyle=German", Options{}, with(nil)},
		{"Params add and override", "host=h", Options{Params: map[string]string{"synchronous_commit": "local", "TimeZone": "Asia/Tokyo"}},
			with(map[string]string{"synchronous_commit": "local", "TimeZone": "Asia/Tokyo"})},
		{"Params win over Writable", "host=h", Options{Writable: true, Params: map[string]string{"default_transaction_read_only": "on"}},
			with(map[string]string{"default_transaction_read_only": "on"})},
		{"everything", "postgres://u@h/db?application_name=x", Options{AppName: "pgswitch_b_admin", Replication: true, Writable: true},
			with(map[string]string{"application_name": "pgswitch_b_admin", "replication": "database", "default_transaction_read_only": "off"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Config(tc.dsn, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(cfg.RuntimeParams, tc.want) {
				t.Errorf("RuntimeParams = %v\nwant %v", cfg.RuntimeParams, tc.want)
			}
		})
	}
}

// Params of one call must not leak into the next (the fixed settings are a
// shared map).
func TestConfigDoesNotShareParams(t *testing.T) {
	if _, err := Config("host=h", Options{Params: map[string]string{"TimeZone": "Asia/Tokyo", "work_mem": "1MB"}}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Config("host=h", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(cfg.RuntimeParams, fixed) {
		t.Errorf("a later Config has RuntimeParams %v, want %v", cfg.RuntimeParams, fixed)
	}
}

func TestConfigConnectTimeout(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want time.Duration
	}{
		{"host=h", DefaultConnectTimeout},
		{"host=h connect_timeout=3", 3 * time.Second},
		{"postgres://h/db?connect_timeout=25", 25 * time.Second},
	} {
		cfg, err := Config(tc.dsn, Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.dsn, err)
		}
		if cfg.ConnectTimeout != tc.want {
			t.Errorf("%s: ConnectTimeout = %v, want %v", tc.dsn, cfg.ConnectTimeout, tc.want)
		}
	}
}

func TestConfigKeepsTheDSN(t *testing.T) {
	cfg, err := Config("host=db1 port=6543 dbname=app user=bob password=s3cret sslmode=disable", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "db1" || cfg.Port != 6543 || cfg.Database != "app" || cfg.User != "bob" || cfg.Password != "s3cret" {
		t.Errorf("parsed %s:%d/%s as %s (password %q), want db1:6543/app as bob (s3cret)", cfg.Host, cfg.Port, cfg.Database, cfg.User, cfg.Password)
	}
}

func TestConfigErrorHidesPassword(t *testing.T) {
	for _, tc := range []struct {
		dsn    string
		reason string // in the error; "" when pgconn gives no wrapped cause
	}{
		{"host=x password=s3cret sslmode=bogus", "sslmode is invalid"},
		{"host=x password='s3cret' connect_timeout=abc", "invalid syntax"},
		{"postgres://u:s3cret@h/db?connect_timeout=x", "invalid syntax"},
		{"host=x password=s3cret bogus", "invalid keyword/value"},
		// pgconn wraps no cause for a bad port: its own reason is kept.
		{"host=x password=s3cret port=notanumber", "invalid port"},
		{"postgres://u:s3cret@h:badport/db", "badport"},
	} {
		_, err := Config(tc.dsn, Options{})
		if err == nil {
			t.Errorf("Config(%q): no error", tc.dsn)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cret") {
			t.Errorf("Config(%q): error shows the password: %s", tc.dsn, msg)
		}
		if !strings.Contains(msg, "parsing DSN") || !strings.Contains(msg, Redact(tc.dsn)) {
			t.Errorf("Config(%q): error %q does not name the redacted DSN %q", tc.dsn, msg, Redact(tc.dsn))
		}
		if tc.reason != "" && !strings.Contains(msg, tc.reason) {
			t.Errorf("Config(%q): error %q does not give the reason %q", tc.dsn, msg, tc.reason)
		}
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"host=db1 port=6543 dbname=app user=bob password=s3cret", "db1:6543/app as bob"},
		{"postgres://bob:s3cret@db2:5433/sales?sslmode=disable", "db2:5433/sales as bob"},
		{"host=/var/run/postgresql port=5432 dbname=x user=postgres", "/var/run/postgresql:5432/x as postgres"},
		// Unparsable: the redacted string itself.
		{"host=x password=s3cret port=notanumber", "host=x password=xxxxx port=notanumber"},
	} {
		got := Describe(tc.dsn)
		if got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("Describe(%q) shows the password: %q", tc.dsn, got)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"host=h password=s3cret user=u", "host=h password=xxxxx user=u"},
		{"host=h password='s3 cret' user=u", "host=h password=xxxxx user=u"},
		{"postgres://u:s3cret@h:5432/db", "postgres://u:xxxxx@h:5432/db"},
		{"postgresql://u@h/db?password=s3cret&sslmode=disable", "postgresql://u@h/db?password=xxxxx&sslmode=disable"},
		{"host=h user=u", "host=h user=u"},
	} {
		got := Redact(tc.dsn)
		if got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
		if strings.Contains(got, "s3") {
			t.Errorf("Redact(%q) shows (part of) the password: %q", tc.dsn, got)
		}
	}
}
