package config

import (
	"reflect"
	"regexp"
	"slices"
	"testing"
)

// TestKeyTable: the table of keys is consistent with Config and with
// itself, so that adding a key stays a one-line change.
func TestKeyTable(t *testing.T) {
	nameRE := regexp.MustCompile(`^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*$`)
	c := &Config{}
	byField := map[uintptr]string{}
	envs := map[string]string{}
	var order []string
	for i := range keys {
		k := &keys[i]
		if !nameRE.MatchString(k.name) {
			t.Errorf("key %q is not section.key in lowercase", k.name)
		}
		p := reflect.ValueOf(k.field(c)).Pointer()
		if other, dup := byField[p]; dup {
			t.Errorf("keys %s and %s share a field", other, k.name)
		}
		byField[p] = k.name
		if other, dup := envs[k.env()]; dup {
			t.Errorf("keys %s and %s share the variable %s", other, k.name, k.env())
		}
		envs[k.env()] = k.name
		if n := len(order); n == 0 || order[n-1] != k.section() {
			if slices.Contains(order, k.section()) {
				t.Errorf("the keys of section %s are not together", k.section())
			}
			order = append(order, k.section())
		}
		if k.keepZero && k.def == "" {
			t.Errorf("key %s keeps zero but has no default", k.name)
		}
		k.setDefault(c) // panics when the default does not decode
	}

	// Every field of Config has a key.
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		sec := v.Field(i)
		for j := 0; j < sec.NumField(); j++ {
			if _, ok := byField[sec.Field(j).Addr().Pointer()]; !ok {
				t.Errorf("field %s.%s has no key", v.Type().Field(i).Name, sec.Type().Field(j).Name)
			}
		}
	}
}

// TestFilledZeroIsInvalid: a key whose zero Validate replaces by its
// default must have a zero that check rejects; otherwise Validate would
// change a configuration LoadBytes accepted.
func TestFilledZeroIsInvalid(t *testing.T) {
	for i := range keys {
		k := &keys[i]
		if k.def == "" || k.keepZero {
			continue
		}
		c := validConfig()
		k.setZero(c)
		found := false
		for _, p := range c.check() {
			found = found || p.Key == k.name
		}
		if !found {
			t.Errorf("%s: zero passes check, yet Validate replaces it by %q", k.name, k.def)
		}
	}
}

func validConfig() *Config {
	c := &Config{
		Node:     NodeConfig{Name: "a", APIListen: ":1"},
		Peer:     PeerConfig{Name: "b", APIURL: "http://b:1"},
		Postgres: PostgresConfig{DSN: "host=a", PeerDSN: "host=b"},
		Security: SecurityConfig{TokenFile: "/t"},
	}
	c.fillDefaults()
	return c
}

func TestSuggest(t *testing.T) {
	cases := []struct{ name, want string }{
		{"replicaton", " (did you mean replication?)"},
		{"vip", " (did you mean vip?)"},
		{"security", " (did you mean security?)"},
		{"xyz", ""},
		{"", ""},
	}
	for _, tc := range cases {
		if got := suggest(tc.name, sections); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
