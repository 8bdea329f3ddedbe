package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pgswitch/pgswitch/internal/config"
)

// FuzzLoadBytes: whatever the file and the environment hold, LoadBytes does
// not panic and either returns a configuration that validates, or an error
// made only of *config.Error problems.
//
// env is a newline-separated list of NAME=value lines.
func FuzzLoadBytes(f *testing.F) {
	example := mustRead(f, "testdata/example.yaml")
	f.Add(example, "")
	f.Add([]byte(minimal), "")
	f.Add(example, "PGSWITCH_LOG_LEVEL=debug\nPGSWITCH_SERVICE_START=[\"systemctl\",\"start\",\"x\"]")
	f.Add([]byte(minimal), "PGSWITCH_REPLICATION_TABLES=a b.c\nPGSWITCH_VIP_GARP_COUNT=9\nPGSWITCH_NOPE=1")

	broken := []string{
		"",                           // empty file
		"node: [\n",                  // not YAML
		"- a\n- b\n",                 // a list, not a mapping
		"just words\n",               // a scalar
		minimal + "nodes:\n  x: 1\n", // unknown section
		minimal + "vip:\n  adress: 10.0.0.1/24\n",                          // unknown key
		minimal + "log: debug\n",                                           // section as scalar
		minimal + "vip:\n  garp_count: three\n  garp_interval: 200\n",      // wrong types
		minimal + "service:\n  start: systemctl start x\n  timeout: -1s\n", // scalar for list, negative
		minimal + "replication:\n  tables: [A, a.b.c, t, t]\n  publication: Pub\n",
		minimal + "vip:\n  address: 10.0.0.300/24\n",
		minimal + "switchover:\n  max_lag_bytes: 18446744073709551615\n  step_timeout: 1e3\n",
		strings.Replace(minimal, "name: db-2", "name: db_1", 1),                              // same slot
		strings.Replace(minimal, "host=localhost dbname=app", "'postgres://u:pw@h:x/db'", 1), // bad DSN
		minimal + "security:\n  tls_cert: /c\n",                                              // duplicate section
		"node: &n {name: a}\npeer: *n\n",                                                     // aliases
		minimal + "replication:\n  synchronous: {a: [1, {b: null}]}\n",
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
			if verr := c.Validate(); verr != nil {
				t.Fatalf("loaded config does not validate again: %v", verr)
			}
			_ = c.Redacted()
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

		// The same input gives the same problems.
		_, err2 := config.LoadBytes(data, env)
		if again := fuzzKeys(t, err2); !slices.Equal(keys, again) {
			t.Fatalf("second load reports %q, first %q", again, keys)
		}
	})
}

// fuzzKeys is the sorted keys of every problem in err, failing when a
// problem is not a *config.Error.
func fuzzKeys(t *testing.T, err error) []string {
	t.Helper()
	ps := problems(t, err)
	if t.Failed() {
		t.FailNow()
	}
	for _, p := range ps {
		if p.Msg == "" {
			t.Fatalf("problem without a message: %#v", p)
		}
	}
	return keysOf(ps)
}
