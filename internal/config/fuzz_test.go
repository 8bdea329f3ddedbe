package config_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pgswitch/pgswitch/internal/config"
)

// FuzzLoadBytes: whatever the file and the environment hold, LoadBytes does
// not panic and either returns a configuration that passes Validate again
// (and that Redacted renders as a file loading back into the same
// configuration), or an error made only of *config.Error problems, the same
// ones each time.
//
// env is a newline-separated list of NAME=value lines.
func FuzzLoadBytes(f *testing.F) {
	example := mustRead(f, "testdata/example.yaml")
	f.Add(example, "")
	f.Add([]byte(minimal), "")
	f.Add(example, "PGSWITCH_LOG_LEVEL=debug\nPGSWITCH_SERVICE_START=[\"systemctl\",\"start\",\"x\"]")
	f.Add([]byte(minimal), "PGSWITCH_REPLICATION_TABLES=a b.c\nPGSWITCH_VIP_GARP_COUNT=9\nPGSWITCH_NOPE=1")
	f.Add([]byte(""), "PGSWITCH_NODE_NAME=a\nPGSWITCH_NODE_API_LISTEN=:1\nPGSWITCH_PEER_NAME=b\nPGSWITCH_PEER_API_URL=http://b:1\n"+
		"PGSWITCH_POSTGRES_DSN=host=a password=pw\nPGSWITCH_POSTGRES_PEER_DSN=postgres://u:pw@b/db\nPGSWITCH_SECURITY_TOKEN_FILE=/t")
	f.Add([]byte(minimal), "PGSWITCH_SERVICE_STOP=[\"a\", null]\nPGSWITCH_VIP_GARP_INTERVAL=\nPGSWITCH_SWITCHOVER_MAX_LAG_BYTES=99999999999999999999")

	broken := []string{
		"",                           // empty file
		"node: [\n",                  // not YAML
		"- a\n- b\n",                 // a list, not a mapping
		"just words\n",               // a scalar
		minimal + "---\nlog: {}\n",   // two documents
		minimal + "nodes:\n  x: 1\n", // unknown section
		minimal + "vip:\n  adress: 10.0.0.1/24\n",                          // unknown key
		minimal + "NODE:\n  name: x\n",                                     // same section in another case
		minimal + "log: debug\n",                                           // section as scalar
		minimal + "vip:\n  garp_count: three\n  garp_interval: 200\n",      // wrong types
		minimal + "service:\n  start: systemctl start x\n  timeout: -1s\n", // scalar for list, negative
		minimal + "replication:\n  tables: [A, a.b.c, t, public.t]\n  publication: Pub\n",
		minimal + "vip:\n  address: 10.0.0.300/24\n",
		minimal + "switchover:\n  max_lag_bytes: 18446744073709551615\n  step_timeout: 1e3\n",
		strings.Replace(minimal, "name: db-2", "name: db_1", 1),                               // same slot
		strings.Replace(minimal, "host=localhost dbname=app", "'postgres://u:pw@h:x/db'", 1),  // bad URL DSN
		strings.Replace(minimal, "host=localhost dbname=app", "\"host=h password='p w\"", 1),  // bad keyword DSN
		minimal + "security:\n  tls_cert: /c\n",                                               // section twice
		"node: &n {name: a}\npeer: *n\n",                                                      // aliases
		minimal + "log: &x {<<: *x}\n",                                                        // merges itself
		minimal + "service:\n  <<: {timeout: 1s}\n  check: &c [a]\n  stop: *c\n",              // merge and alias
		minimal + "replication:\n  synchronous: {a: [1, {b: null}]}\n",                        // nested value
		minimal + "log:\n  level: !!binary aW5mbw==\n  format: !custom json\n",                // tags
		strings.Replace(minimal, "  name: db-1\n", "  name: db-1\n  Name: db-3\n", 1),         // key twice
		strings.Replace(minimal, "name: db-2", "name: 0123", 1) + "vip:\n  interface: 0x1F\n", // numbers as strings
	}
	for _, b := range broken {
		f.Add([]byte(b), "")
	}

	f.Fuzz(func(t *testing.T, data []byte, envText string) {
		var env []string
		if envText != "" {
			env = strings.Split(envText, "\n")
		}
		c, err := config.LoadBytes(data, env)
		if err == nil {
			if c == nil {
				t.Fatal("LoadBytes returned neither a config nor an error")
			}
			before := c.Redacted()
			if verr := c.Validate(); verr != nil {
				t.Fatalf("loaded config does not validate again: %v", verr)
			}
			if after := c.Redacted(); after != before {
				t.Fatalf("Validate changed a loaded config:\n%s\nto\n%s", before, after)
			}
			checkLoadsBack(t, c, data, envText)
			return
		}
		if c != nil {
			t.Fatalf("LoadBytes returned a config along with the error %v", err)
		}
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("error %v (%T) holds no *config.Error", err, err)
		}
		keys := fuzzKeys(t, err)
		if len(keys) == 0 {
			t.Fatalf("error %v holds no problem", err)
		}
		_, err2 := config.LoadBytes(data, env)
		if again := fuzzKeys(t, err2); !slices.Equal(keys, again) {
			t.Fatalf("second load reports %q, first %q", again, keys)
		}
	})
}

// checkLoadsBack checks that c.Redacted() loads into c again, when there is
// no password it masks and the input is text YAML can hold.
func checkLoadsBack(t *testing.T, c *config.Config, data []byte, envText string) {
	t.Helper()
	if !utf8.Valid(data) || !utf8.ValidString(envText) ||
		config.RedactDSN(c.Postgres.DSN) != c.Postgres.DSN || config.RedactDSN(c.Postgres.PeerDSN) != c.Postgres.PeerDSN {
		return
	}
	back, err := config.LoadBytes([]byte(c.Redacted()), nil)
	if err != nil {
		t.Fatalf("Redacted does not load: %v\n%s", err, c.Redacted())
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("Redacted loads as\n%#v\nnot\n%#v", back, c)
	}
}

// fuzzKeys is the sorted keys of every problem in err, failing when a
// problem is not a *config.Error or has no message.
func fuzzKeys(t *testing.T, err error) []string {
	t.Helper()
	ps := problems(t, err)
	if t.Failed() {
		t.FailNow()
	}
	for _, p := range ps {
		if p.Msg == "" || p.Key == "" {
			t.Fatalf("problem without a key or a message: %#v", p)
		}
	}
	return keysOf(ps)
}
