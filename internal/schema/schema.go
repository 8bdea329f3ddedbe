package schema

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/sql"
)

// Table names a table.
type Table struct{ Schema, Name string }

func (t Table) String() string { return t.Schema + "." + t.Name }

// Quoted is the SQL form of the name.
func (t Table) Quoted() string { return pgutil.Qualified(t.Schema, t.Name) }

// ParseTable reads "schema.table" or "table" (schema public).
func ParseTable(s string) Table {
	if schema, name, ok := strings.Cut(s, "."); ok {
		return Table{Schema: schema, Name: name}
	}
	return Table{Schema: "public", Name: s}
}

// Column is one column's shape.
type Column struct {
	Name      string
	Type      string
	NotNull   bool
	Generated bool
}

// Shape is a table's columns and how its rows are identified.
type Shape struct {
	Table         Table
	Columns       []Column
	ReplIdent     string // d (default: primary key), n, f (full), i (index)
	PrimaryKey    string // comma-separated key columns, "" if none
	IdentityIndex string
}

// Identifiable says whether UPDATE and DELETE can be replicated: a table
// without a usable replica identity makes them fail on the primary.
func (s Shape) Identifiable() bool {
	switch s.ReplIdent {
	case "f":
		return true
	case "i":
		return s.IdentityIndex != ""
	case "d":
		return s.PrimaryKey != ""
	}
	return false
}

// CopyColumns lists the quoted columns that carry data (generated columns
// are computed on each node).
func (s Shape) CopyColumns() []string {
	var cols []string
	for _, c := range s.Columns {
		if !c.Generated {
			cols = append(cols, pgutil.Ident(c.Name))
		}
	}
	return cols
}

// Load reads the shape of one table; ok=false when it does not exist.
func Load(ctx context.Context, conn *pgx.Conn, t Table) (Shape, bool, error) {
	rows, err := conn.Query(ctx, sql.Query("table_shape"), t.Schema, t.Name)
	if err != nil {
		return Shape{}, false, fmt.Errorf("reading the shape of %s: %w", t, err)
	}
	s := Shape{Table: t}
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type, &c.NotNull, &c.Generated, &s.ReplIdent, &s.PrimaryKey, &s.IdentityIndex); err != nil {
			rows.Close()
			return Shape{}, false, fmt.Errorf("reading the shape of %s: %w", t, err)
		}
		s.Columns = append(s.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return Shape{}, false, fmt.Errorf("reading the shape of %s: %w", t, err)
	}
	return s, len(s.Columns) > 0, nil
}

// Replicated lists the tables the node replicates: the publication's tables
// when it exists, else what it will publish (configured tables, or every
// user table for FOR ALL TABLES).
func Replicated(ctx context.Context, conn *pgx.Conn, publication string, configured []string) ([]Table, error) {
	var exists bool
	if err := conn.QueryRow(ctx, sql.Query("publication_exists"), publication).Scan(&exists); err != nil {
		return nil, fmt.Errorf("looking up publication %s: %w", publication, err)
	}
	if !exists && len(configured) > 0 {
		out := make([]Table, len(configured))
		for i, c := range configured {
			out[i] = ParseTable(c)
		}
		sortTables(out)
		return out, nil
	}
	q, args := sql.Query("user_tables"), []any{}
	if exists {
		q, args = sql.Query("published_tables"), []any{publication}
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing replicated tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Table, error) {
		var t Table
		err := r.Scan(&t.Schema, &t.Name)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing replicated tables: %w", err)
	}
	return tables, nil
}

func sortTables(ts []Table) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].String() < ts[j].String() })
}

// Diff lists how the table differs between the nodes, one line each, in
// words an operator can act on. Empty means equal.
func Diff(a, b Shape, aName, bName string) []string {
	var out []string
	bCols := make(map[string]Column, len(b.Columns))
	for _, c := range b.Columns {
		bCols[c.Name] = c
	}
	aCols := make(map[string]bool, len(a.Columns))
	for _, c := range a.Columns {
		aCols[c.Name] = true
		o, ok := bCols[c.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: column %s exists on %s but not on %s", a.Table, c.Name, aName, bName))
		case o.Type != c.Type:
			out = append(out, fmt.Sprintf("%s: column %s is %s on %s but %s on %s", a.Table, c.Name, c.Type, aName, o.Type, bName))
		case o.Generated != c.Generated:
			out = append(out, fmt.Sprintf("%s: column %s is generated on only one node", a.Table, c.Name))
		}
	}
	for _, c := range b.Columns {
		if !aCols[c.Name] {
			out = append(out, fmt.Sprintf("%s: column %s exists on %s but not on %s", a.Table, c.Name, bName, aName))
		}
	}
	if a.PrimaryKey != b.PrimaryKey {
		out = append(out, fmt.Sprintf("%s: primary key (%s) on %s but (%s) on %s", a.Table, a.PrimaryKey, aName, b.PrimaryKey, bName))
	}
	return out
}
