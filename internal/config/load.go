package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// Error is one configuration problem, naming the key (or the environment
// variable) it is about.
type Error struct {
	Key string
	Msg string
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("config: %s: %s: %v", e.Key, e.Msg, e.Err)
	}
	return fmt.Sprintf("config: %s: %s", e.Key, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Load reads the file at path, applies PGSWITCH_* overrides from the
// environment, decodes strictly and validates.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Key: "--config", Msg: "cannot read the configuration file", Err: err}
	}
	return LoadBytes(data, os.Environ())
}

// LoadBytes does what Load does, from memory and an explicit environment.
func LoadBytes(data []byte, env []string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, &Error{Key: "(file)", Msg: "not valid YAML", Err: err}
	}
	var problems []error
	problems = append(problems, unknownKeys(v.AllSettings(), "")...)
	problems = append(problems, applyEnv(v, env)...)
	c := &Config{}
	for _, k := range keys {
		raw := k.def
		if v.IsSet(k.name) {
			raw = v.Get(k.name)
		}
		if err := set(c, k, raw); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var known = func() map[string]key {
	m := map[string]key{}
	for _, k := range keys {
		m[k.name] = k
	}
	return m
}()

// unknownKeys walks the file's settings and names every key that pgswitch
// does not know (a typo must not pass silently).
func unknownKeys(m map[string]any, prefix string) []error {
	var out []error
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	secs := sections()
	for _, n := range names {
		full := n
		if prefix != "" {
			full = prefix + "." + n
		}
		val := m[n]
		if prefix == "" {
			if !secs[n] {
				out = append(out, &Error{Key: full, Msg: "unknown section"})
				continue
			}
			sub, ok := val.(map[string]any)
			if !ok {
				if val != nil {
					out = append(out, &Error{Key: full, Msg: "must be a mapping of keys"})
				}
				continue
			}
			out = append(out, unknownKeys(sub, full)...)
			continue
		}
		if _, ok := known[full]; !ok {
			out = append(out, &Error{Key: full, Msg: "unknown key"})
		}
	}
	return out
}

// envName is the environment variable that overrides a key.
func envName(k string) string {
	return "PGSWITCH_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
}

// applyEnv sets overrides from PGSWITCH_* variables; one that matches no
// key is an error naming it.
func applyEnv(v *viper.Viper, env []string) []error {
	byEnv := map[string]key{}
	for _, k := range keys {
		byEnv[envName(k.name)] = k
	}
	var out []error
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "PGSWITCH_") {
			continue
		}
		k, ok := byEnv[name]
		if !ok {
			out = append(out, &Error{Key: name, Msg: "environment variable matches no configuration key"})
			continue
		}
		if k.kind == kStrings {
			list, err := parseList(val)
			if err != nil {
				out = append(out, &Error{Key: name, Msg: "not a list (JSON array or words)", Err: err})
				continue
			}
			v.Set(k.name, list)
			continue
		}
		v.Set(k.name, val)
	}
	return out
}

func parseList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, err
		}
		return out, nil
	}
	return strings.Fields(s), nil
}

// set converts raw into the field of key k.
func set(c *Config, k key, raw any) error {
	bad := func(msg string) error { return &Error{Key: k.name, Msg: msg} }
	switch p := field(c, k.name).(type) {
	case *string:
		switch x := raw.(type) {
		case string:
			*p = x
		case nil:
			*p = ""
		case int, int64, float64, bool:
			*p = fmt.Sprint(x)
		default:
			return bad(fmt.Sprintf("must be a string, not %T", raw))
		}
	case *[]string:
		switch x := raw.(type) {
		case nil:
			*p = nil
		case []string:
			*p = append([]string(nil), x...)
		case []any:
			out := make([]string, len(x))
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					if e == nil {
						return bad(fmt.Sprintf("item %d is empty", i))
					}
					s = fmt.Sprint(e)
				}
				out[i] = s
			}
			*p = out
		default:
			return bad("must be a list")
		}
	case *bool:
		switch x := raw.(type) {
		case bool:
			*p = x
		case string:
			switch strings.ToLower(x) {
			case "true", "yes", "on", "1":
				*p = true
			case "false", "no", "off", "0", "":
				*p = false
			default:
				return bad(fmt.Sprintf("must be true or false, not %q", x))
			}
		default:
			return bad(fmt.Sprintf("must be true or false, not %v", raw))
		}
	case *int:
		n, err := toInt(raw)
		if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
			return bad(fmt.Sprintf("must be a whole number, not %v", raw))
		}
		*p = int(n)
	case *int64:
		n, err := toInt(raw)
		if err != nil {
			return bad(fmt.Sprintf("must be a whole number, not %v", raw))
		}
		*p = n
	case *time.Duration:
		switch x := raw.(type) {
		case time.Duration:
			*p = x
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(x))
			if err != nil {
				return bad(fmt.Sprintf("must be a duration like 200ms or 10s, not %q", x))
			}
			*p = d
		case int, int64:
			if fmt.Sprint(x) != "0" {
				return bad(fmt.Sprintf("must be a duration with a unit (200ms, 10s), not %v", x))
			}
			*p = 0
		default:
			return bad(fmt.Sprintf("must be a duration like 200ms or 10s, not %v", raw))
		}
	default:
		return bad("internal error: no field for this key")
	}
	return nil
}

func toInt(raw any) (int64, error) {
	switch x := raw.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, errors.New("too large")
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || math.IsNaN(x) || math.Abs(x) > 1<<53 {
			return 0, errors.New("not whole")
		}
		return int64(x), nil
	case string:
		var n int64
		if _, err := fmt.Sscan(strings.TrimSpace(x), &n); err != nil || fmt.Sprint(n) != strings.TrimSpace(x) {
			return 0, errors.New("not a number")
		}
		return n, nil
	}
	return 0, errors.New("not a number")
}

// field returns a pointer to the Config field of a key, found by the
// mapstructure tags of the section and the field.
func field(c *Config, name string) any {
	sec, k, _ := cut(name)
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("mapstructure") != sec {
			continue
		}
		s := v.Field(i)
		for j := 0; j < s.NumField(); j++ {
			if s.Type().Field(j).Tag.Get("mapstructure") == k {
				return s.Field(j).Addr().Interface()
			}
		}
	}
	return nil
}
