// Package sql holds every SQL statement pgswitch runs against PostgreSQL, in
// plain .sql files an operator can read (and run by hand in an emergency).
//
// schema.sql is applied by `pgswitch init` on both nodes. queries.sql is a list
// of named queries: each starts with a line "-- name: <name>" and ends where
// the next one starts. Go code fetches them with Query(name).
package sql

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed *.sql
var files embed.FS

// Schema is the DDL of pgswitch's own schema (idempotent).
var Schema = mustRead("schema.sql")

var queries = parseQueries(mustRead("queries.sql"))

// Query returns the named query from queries.sql. It panics on an unknown
// name: the set of names is fixed at build time and covered by a test.
func Query(name string) string {
	q, ok := queries[name]
	if !ok {
		panic(fmt.Sprintf("sql: no query named %q in queries.sql", name))
	}
	return q
}

// Names lists the named queries (for tests).
func Names() []string {
	names := make([]string, 0, len(queries))
	for n := range queries {
		names = append(names, n)
	}
	return names
}

func mustRead(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("sql: reading embedded %s: %v", name, err))
	}
	return string(b)
}

func parseQueries(text string) map[string]string {
	out := make(map[string]string)
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			out[name] = strings.TrimSpace(body.String())
		}
		body.Reset()
	}
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
			flush()
			name = strings.TrimSpace(rest)
			continue
		}
		if name != "" {
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	flush()
	return out
}
