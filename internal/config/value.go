package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// YAML tags of the values raw holds.
const (
	tagStr       = "!!str"
	tagInt       = "!!int"
	tagFloat     = "!!float"
	tagBool      = "!!bool"
	tagTimestamp = "!!timestamp"
	tagNull      = "!!null"
	tagSeq       = "!!seq"
	tagMap       = "!!map"
)

// raw is one value as given, before it is decoded into its field: a scalar
// with its text as written, or a list of scalars.
type raw struct {
	text  string     // a scalar's text, exactly as written
	tag   string     // YAML tag; "" for a plain string from the environment
	items []raw      // a list's items (tag !!seq)
	node  *yaml.Node // the YAML scalar; nil when not from the file
	line  int        // line in the file; 0 when not from the file
	env   string     // the environment variable it came from, if any
}

// listRaw is a list of plain strings.
func listRaw(items []string, env string) raw {
	r := raw{tag: tagSeq, items: make([]raw, len(items)), env: env}
	for i, s := range items {
		r.items[i] = raw{text: s, env: env}
	}
	return r
}

// where says where the value came from, for messages.
func (r raw) where() string {
	switch {
	case r.env != "":
		return " (from " + r.env + ")"
	case r.line > 0:
		return fmt.Sprintf(" (line %d)", r.line)
	}
	return ""
}

// describe names what r is when it is not what was expected.
func (r raw) describe() string {
	switch r.tag {
	case tagSeq:
		return "a list"
	case tagMap:
		return "a mapping"
	case tagNull:
		return "empty"
	}
	return quoteValue(r.text)
}

// quoteValue quotes a value for a message: shortened, and with any password
// masked in case a connection string landed in the wrong key.
func quoteValue(s string) string {
	s = RedactDSN(s)
	if len(s) > 120 {
		s = strings.ToValidUTF8(s[:116], "") + "…"
	}
	return strconv.Quote(s)
}

// decode stores r in the key's field of c, which is left alone when r does
// not decode; the error names the key and says where the value came from.
func (k *key) decode(c *Config, r raw) error {
	var err error
	switch p := k.field(c).(type) {
	case *string:
		err = store(p, r.str)
	case *[]string:
		err = store(p, r.list)
	case *bool:
		err = store(p, r.boolean)
	case *int:
		err = store(p, func() (int, error) {
			n, err := r.integer()
			if err == nil && (n < math.MinInt || n > math.MaxInt) {
				err = fmt.Errorf("%d is out of range", n)
			}
			return int(n), err
		})
	case *int64:
		err = store(p, r.integer)
	case *time.Duration:
		err = store(p, r.duration)
	default:
		panic("config: key " + k.name + " has a field of an unsupported type")
	}
	if err != nil {
		return &Error{Key: k.name, Msg: err.Error() + r.where()}
	}
	return nil
}

// store sets *p to what get returns, unless it fails.
func store[T any](p *T, get func() (T, error)) error {
	v, err := get()
	if err == nil {
		*p = v
	}
	return err
}

// str is a scalar's text as written: a string key takes numbers, booleans
// and dates as the text they are written with (node name 0123 stays 0123).
func (r raw) str() (string, error) {
	switch r.tag {
	case "", tagStr, tagInt, tagFloat, tagBool, tagTimestamp:
		return r.text, nil
	case tagSeq, tagMap, tagNull:
		return "", fmt.Errorf("must be a single value, not %s", r.describe())
	}
	return "", fmt.Errorf("has the YAML tag %s; write a plain value", r.tag)
}

// list is a list's items as strings.
func (r raw) list() ([]string, error) {
	if r.tag != tagSeq {
		return nil, fmt.Errorf("must be a list like [a, b], not %s", r.describe())
	}
	if len(r.items) == 0 {
		return nil, nil
	}
	out := make([]string, len(r.items))
	for i, item := range r.items {
		s, err := item.str()
		if err != nil {
			return nil, fmt.Errorf("item %d %w", i+1, err)
		}
		out[i] = s
	}
	return out, nil
}

func (r raw) boolean() (bool, error) {
	switch r.tag {
	case tagBool:
		var b bool
		if err := r.node.Decode(&b); err == nil {
			return b, nil
		}
	case "", tagStr, tagInt:
		switch strings.ToLower(strings.TrimSpace(r.text)) {
		case "true", "yes", "on", "1":
			return true, nil
		case "false", "no", "off", "0":
			return false, nil
		}
	}
	return false, fmt.Errorf("must be true or false, not %s", r.describe())
}

// maxExactFloat is the largest whole number a float64 holds exactly.
const maxExactFloat = 1 << 53

func (r raw) integer() (int64, error) {
	bad := fmt.Errorf("must be a whole number, not %s", r.describe())
	switch r.tag {
	case tagInt:
		var n int64
		if err := r.node.Decode(&n); err != nil {
			return 0, fmt.Errorf("%s is not a whole number in range", r.describe())
		}
		return n, nil
	case tagFloat: // 1e6, 5.0
		var f float64
		if err := r.node.Decode(&f); err != nil || f != math.Trunc(f) || math.Abs(f) > maxExactFloat {
			return 0, bad
		}
		return int64(f), nil
	case "", tagStr:
		n, err := strconv.ParseInt(strings.TrimSpace(r.text), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is not a whole number in range", r.describe())
		}
		if err != nil {
			return 0, bad
		}
		return n, nil
	}
	return 0, bad
}

func (r raw) duration() (time.Duration, error) {
	switch r.tag {
	case "", tagStr:
		if d, err := time.ParseDuration(strings.TrimSpace(r.text)); err == nil {
			return d, nil
		}
	case tagInt:
		if n, err := r.integer(); err == nil && n == 0 {
			return 0, nil
		}
	}
	return 0, fmt.Errorf("must be a duration with a unit, like 200ms or 10s, not %s", r.describe())
}
