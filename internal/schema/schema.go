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
	// TypeDef spells out a user-defined type (its OID differs between the
	// nodes, its name may match while its definition does not): the
	// attributes of a composite, the labels of an enum, the base and
	// checks of a domain, the subtype of a range, the element of an
	// array, nested types spelt out in turn. "" for a built-in type.
	TypeDef string
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
	if len(s.Columns) == 0 {
		return s, false, nil
	}
	if err := describeColumns(ctx, conn, &s); err != nil {
		return Shape{}, false, fmt.Errorf("reading the types of %s: %w", t, err)
	}
	return s, true, nil
}

// firstUserOID: OIDs below it are built into PostgreSQL and mean the same
// on every server of one major version.
const firstUserOID = 16384

// describeColumns fills TypeDef for the columns of user-defined types.
func describeColumns(ctx context.Context, conn *pgx.Conn, s *Shape) error {
	rows, err := conn.Query(ctx, `SELECT a.attname::text, a.atttypid FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, s.Table.Quoted())
	if err != nil {
		return err
	}
	oids := map[string]uint32{}
	for rows.Next() {
		var name string
		var oid uint32
		if err := rows.Scan(&name, &oid); err != nil {
			rows.Close()
			return err
		}
		oids[name] = oid
	}
	if err := rows.Err(); err != nil {
		return err
	}
	d := typeDescriber{conn: conn, seen: map[uint32]string{}}
	for i, c := range s.Columns {
		// (An array of a user type is itself a user type.)
		if oid := oids[c.Name]; oid >= firstUserOID {
			def, err := d.describe(ctx, oid, 0)
			if err != nil {
				return fmt.Errorf("column %s: %w", c.Name, err)
			}
			s.Columns[i].TypeDef = def
		}
	}
	return nil
}

// typeDescriber spells out types, each once per table.
type typeDescriber struct {
	conn *pgx.Conn
	seen map[uint32]string
}

func (d *typeDescriber) describe(ctx context.Context, oid uint32, depth int) (string, error) {
	if def, ok := d.seen[oid]; ok {
		return def, nil
	}
	var name, typtype string
	var elem, base, rel uint32
	var notNull bool
	err := d.conn.QueryRow(ctx, `SELECT pg_catalog.format_type(t.oid, NULL), t.typtype::text, t.typelem, t.typbasetype, t.typrelid, t.typnotnull
		FROM pg_catalog.pg_type t WHERE t.oid = $1`, oid).Scan(&name, &typtype, &elem, &base, &rel, &notNull)
	if err != nil {
		return "", fmt.Errorf("reading type %d: %w", oid, err)
	}
	if oid < firstUserOID || depth > 8 {
		return name, nil
	}
	var def string
	switch {
	case typtype == "b" && elem != 0:
		inner, err := d.describe(ctx, elem, depth+1)
		if err != nil {
			return "", err
		}
		def = inner + "[]"
	case typtype == "c":
		rows, err := d.conn.Query(ctx, `SELECT attname::text, atttypid FROM pg_catalog.pg_attribute
			WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, rel)
		if err != nil {
			return "", fmt.Errorf("reading the attributes of %s: %w", name, err)
		}
		type attr struct {
			name string
			oid  uint32
		}
		attrs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (attr, error) {
			var a attr
			err := r.Scan(&a.name, &a.oid)
			return a, err
		})
		if err != nil {
			return "", fmt.Errorf("reading the attributes of %s: %w", name, err)
		}
		parts := make([]string, len(attrs))
		for i, a := range attrs {
			t, err := d.describe(ctx, a.oid, depth+1)
			if err != nil {
				return "", err
			}
			parts[i] = a.name + " " + t
		}
		def = fmt.Sprintf("%s composite (%s)", name, strings.Join(parts, ", "))
	case typtype == "e":
		var labels []string
		if err := d.conn.QueryRow(ctx, `SELECT coalesce(array_agg(enumlabel::text ORDER BY enumsortorder), '{}') FROM pg_catalog.pg_enum WHERE enumtypid = $1`, oid).Scan(&labels); err != nil {
			return "", fmt.Errorf("reading the labels of %s: %w", name, err)
		}
		for i, l := range labels {
			labels[i] = "'" + strings.ReplaceAll(l, "'", "''") + "'"
		}
		def = fmt.Sprintf("%s enum (%s)", name, strings.Join(labels, ", "))
	case typtype == "d":
		inner, err := d.describe(ctx, base, depth+1)
		if err != nil {
			return "", err
		}
		var checks []string
		if err := d.conn.QueryRow(ctx, `SELECT coalesce(array_agg(pg_catalog.pg_get_constraintdef(oid) ORDER BY conname), '{}') FROM pg_catalog.pg_constraint WHERE contypid = $1`, oid).Scan(&checks); err != nil {
			return "", fmt.Errorf("reading the constraints of %s: %w", name, err)
		}
		def = fmt.Sprintf("%s domain over %s", name, inner)
		if notNull {
			def += " NOT NULL"
		}
		if len(checks) > 0 {
			def += " " + strings.Join(checks, " ")
		}
	case typtype == "r" || typtype == "m":
		var sub uint32
		q := `SELECT rngsubtype FROM pg_catalog.pg_range WHERE rngtypid = $1`
		if typtype == "m" {
			q = `SELECT rngsubtype FROM pg_catalog.pg_range WHERE rngmultitypid = $1`
		}
		if err := d.conn.QueryRow(ctx, q, oid).Scan(&sub); err != nil {
			return "", fmt.Errorf("reading the subtype of %s: %w", name, err)
		}
		inner, err := d.describe(ctx, sub, depth+1)
		if err != nil {
			return "", err
		}
		kind := "range"
		if typtype == "m" {
			kind = "multirange"
		}
		def = fmt.Sprintf("%s %s of %s", name, kind, inner)
	default:
		// A base type of an extension (hstore, …): its name says it.
		def = name
	}
	d.seen[oid] = def
	return def, nil
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
		case o.TypeDef != c.TypeDef:
			out = append(out, fmt.Sprintf("%s: column %s's type %s is %s on %s but %s on %s", a.Table, c.Name, c.Type, c.TypeDef, aName, o.TypeDef, bName))
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
