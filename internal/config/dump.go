package config

import (
	"strconv"
	"strings"
	"time"
)

// Redacted renders the configuration as YAML, every key in the order of the
// example file, with the passwords of the DSNs masked (see RedactDSN): for
// `pgswitch` to print. Without passwords, it loads back into the same
// configuration.
func (c *Config) Redacted() string {
	r := *c
	r.Postgres.DSN = RedactDSN(c.Postgres.DSN)
	r.Postgres.PeerDSN = RedactDSN(c.Postgres.PeerDSN)
	var b strings.Builder
	section := ""
	for i := range keys {
		k := &keys[i]
		if k.section() != section {
			section = k.section()
			b.WriteString(section + ":\n")
		}
		b.WriteString("  " + k.short() + ": " + k.yaml(&r) + "\n")
	}
	return b.String()
}

// yaml renders the key's value in c as a YAML value.
func (k *key) yaml(c *Config) string {
	switch p := k.field(c).(type) {
	case *string:
		return strconv.Quote(*p)
	case *[]string:
		items := make([]string, len(*p))
		for i, s := range *p {
			items[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *time.Duration:
		return p.String()
	}
	panic("config: key " + k.name + " has a field of an unsupported type")
}
