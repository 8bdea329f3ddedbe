package config_test

import (
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

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

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
