package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// fileKey is the Key of a problem with the file as a whole.
const fileKey = "(file)"

// Bounds on the work merge keys (<<) may cause: an alias can be merged many
// times, and each time its mapping is walked again.
const (
	maxMergeDepth = 8
	maxEntries    = 10000
)

// fileDecoder is the YAML decoder viper reads the configuration file with
// (viper.WithDecoderRegistry). viper's own decoder would lose what strict
// reading needs, so this one keeps each value's text as written and its
// line, and reports the problems viper would hide: keys that differ only in
// case (viper folds them into one), unknown sections and keys, a section
// that is not a mapping, and a second YAML document. It collects problems
// instead of failing, so that they are reported together with the rest.
//
// The map it fills holds only known sections and keys, lowercase, each
// value a raw; a key with no value (key: or key: null) is left out and so
// takes its default.
type fileDecoder struct {
	problems []error
	unusable bool // the document is not a mapping of sections
	entries  int  // mapping entries walked, bounded by maxEntries
}

// Decoder returns d for YAML (viper.DecoderRegistry).
func (d *fileDecoder) Decoder(format string) (viper.Decoder, error) {
	if format != "yaml" && format != "yml" {
		return nil, fmt.Errorf("configuration format %q is not YAML", format)
	}
	return d, nil
}

// Decode fills m from the YAML document b (viper.Decoder). The error is a
// YAML syntax error; every other problem is in d.problems.
func (d *fileDecoder) Decode(b []byte, m map[string]any) (err error) {
	defer func() {
		// A bug in the YAML parser must not take the daemon down while it
		// reads its configuration.
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: every key takes its default
		}
		return err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.add(fileKey, "holds more than one YAML document (line %d starts another)", next.Line)
	case !errors.Is(err, io.EOF):
		return err
	}
	root := deref(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = deref(root.Content[0])
	}
	switch {
	case isNull(root):
		return nil
	case root.Kind != yaml.MappingNode:
		d.add(fileKey, "must be a mapping of sections (node:, peer:, …), not %s", kindName(root))
		d.unusable = true
		return nil
	}
	for _, s := range d.mapping(root, "", 0) {
		d.section(s, m)
	}
	return nil
}

// section decodes one top-level entry into m.
func (d *fileDecoder) section(s entry, m map[string]any) {
	if !isSection(s.name) {
		d.add(keyText(s.key.Value), "unknown section (line %d)%s", s.key.Line, suggest(s.name, sections))
		return
	}
	switch {
	case isNull(s.val):
		return // an empty section: every key takes its default
	case s.val.Kind != yaml.MappingNode:
		d.add(keyText(s.key.Value), "must be a mapping of keys, not %s (line %d)", kindName(s.val), s.key.Line)
		return
	}
	values := map[string]any{}
	for _, e := range d.mapping(s.val, keyText(s.key.Value), 0) {
		k, ok := keyByName[s.name+"."+e.name]
		if !ok {
			d.add(join(keyText(s.key.Value), keyText(e.key.Value)), "unknown key (line %d)%s", e.key.Line, suggest(e.name, shortNames(s.name)))
			continue
		}
		if r, ok := fileValue(e.val, e.key.Line); ok {
			values[k.short()] = r
		}
	}
	m[s.name] = values
}

// entry is one key of a mapping.
type entry struct {
	name     string // the key, lowercase as viper sees it
	key, val *yaml.Node
}

// mapping lists the entries of mapping n (whose path names it in problems),
// with merge keys (<<) expanded: the mapping's own keys override merged
// ones, and earlier merged mappings override later ones. A key given twice,
// also in another case, is a problem.
func (d *fileDecoder) mapping(n *yaml.Node, path string, depth int) []entry {
	var own, merged []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if d.entries++; d.entries > maxEntries {
			if d.entries == maxEntries+1 {
				d.add(fileKey, "has more than %d keys once merges (<<) are expanded", maxEntries)
			}
			return nil
		}
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(v, path, depth+1)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.add(orFile(path), "has %s as a key (line %d); keys are plain names", kindName(k), k.Line)
			continue
		}
		name := strings.ToLower(k.Value)
		if first, dup := seen[name]; dup {
			d.add(join(path, keyText(k.Value)), "is given twice (lines %d and %d)", first.Line, k.Line)
			continue
		}
		seen[name] = k
		own = append(own, entry{name: name, key: k, val: v})
	}
	for _, e := range merged {
		if _, dup := seen[e.name]; !dup {
			seen[e.name] = e.key
			own = append(own, e)
		}
	}
	return own
}

// merge lists the entries a merge key's value brings: a mapping or a list
// of mappings.
func (d *fileDecoder) merge(v *yaml.Node, path string, depth int) []entry {
	if depth > maxMergeDepth {
		d.add(orFile(path), "nests merges (<<) more than %d deep (line %d)", maxMergeDepth, v.Line)
		return nil
	}
	var maps []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		maps = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, item := range v.Content {
			maps = append(maps, deref(item))
		}
	default:
		maps = []*yaml.Node{v}
	}
	var out []entry
	for _, mp := range maps {
		if mp.Kind != yaml.MappingNode {
			d.add(orFile(path), "merges (<<) %s, not a mapping (line %d)", kindName(mp), mp.Line)
			continue
		}
		out = append(out, d.mapping(mp, path, depth)...)
	}
	return out
}

// fileValue is the raw value of YAML node n, which is a key's value on the
// given line; false when it holds nothing (null).
func fileValue(n *yaml.Node, line int) (raw, bool) {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		tag := n.ShortTag()
		if tag == tagNull {
			return raw{}, false
		}
		return raw{text: n.Value, tag: tag, node: n, line: line}, true
	case yaml.SequenceNode:
		r := raw{tag: tagSeq, line: line, items: make([]raw, len(n.Content))}
		for i, item := range n.Content {
			item = deref(item)
			r.items[i] = raw{tag: item.ShortTag(), line: item.Line}
			if item.Kind == yaml.ScalarNode {
				r.items[i].text, r.items[i].node = item.Value, item
			}
		}
		return r, true
	}
	return raw{tag: tagMap, line: line}, true
}

func (d *fileDecoder) add(key, format string, args ...any) {
	d.problems = append(d.problems, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// deref follows aliases (*name) to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == tagNull)
}

// kindName says what a node is, for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value" // not quoted: it could be a password
	}
	return "nothing"
}

// keyText is a key as written, quoted when it is empty or holds characters
// that would make a message ambiguous.
func keyText(k string) string {
	if k == "" || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r == '"' || r == 0x7f || !unicode.IsPrint(r) }) {
		return strconv.Quote(k)
	}
	return k
}

// join is the name of key k within path.
func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orFile(path string) string {
	if path == "" {
		return fileKey
	}
	return path
}

// shortNames lists the keys of a section.
func shortNames(section string) []string {
	var out []string
	for i := range keys {
		if keys[i].section() == section {
			out = append(out, keys[i].short())
		}
	}
	return out
}
