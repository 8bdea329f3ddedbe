package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/viper"
)

// applyEnv sets every PGSWITCH_ variable of env (NAME=value lines, as from
// os.Environ) on v as an override of its key, whether or not the file has
// the key. A variable that names no key is a problem naming the variable; a
// list that does not parse is a problem naming the key. When a variable
// appears twice, the first one counts, as with os.Getenv.
func applyEnv(v *viper.Viper, env []string) []error {
	var problems []error
	seen := map[string]bool{}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || seen[name] {
			continue
		}
		seen[name] = true
		k, ok := keyByEnv[name]
		if !ok {
			problems = append(problems, &Error{Key: name,
				Msg: "environment variable matches no configuration key" + suggest(name, envNames())})
			continue
		}
		r := raw{text: val, env: name}
		if k.isList() {
			items, err := parseList(val)
			if err != nil {
				problems = append(problems, &Error{Key: k.name,
					Msg: "must be a JSON array of strings or words separated by spaces (from " + name + ")", Err: err})
				continue
			}
			r = listRaw(items, name)
		}
		v.Set(k.name, r)
	}
	return problems
}

// parseList reads a list from the environment: a JSON array of strings
// when it starts with '[', otherwise words separated by white space.
func parseList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") {
		return strings.Fields(s), nil
	}
	var items []any
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		return nil, fmt.Errorf("not a JSON array: %w", err)
	}
	out := make([]string, len(items))
	for i, item := range items {
		str, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("item %d is not a string", i+1)
		}
		out[i] = str
	}
	return out, nil
}

// envNames lists every variable that configures pgswitch.
func envNames() []string {
	out := make([]string, len(keys))
	for i := range keys {
		out[i] = keys[i].env()
	}
	return out
}
