package replication

import (
	"fmt"
	"strings"

	"github.com/jackc/pglogrepl"

	"github.com/pgswitch/pgswitch/internal/pgutil"
)

// Replica identity settings as pgoutput sends them (pg_class.relreplident).
const (
	identityDefault = 'd'
	identityNothing = 'n'
	identityFull    = 'f'
	identityIndex   = 'i'
)

// relation is what the applier knows of one source table, from the latest
// Relation message for it.
type relation struct {
	id       uint32
	schema   string
	name     string
	identity byte
	columns  []string // quoted column names, in message order
	key      []bool   // column is part of the replica identity key
	// userType: the column's type is not built in (its OID on the source
	// says nothing about the standby's, where it has another OID).
	userType []bool
	// internal tables (pgswitch's own schema) are never applied.
	internal bool
	// version changes with every Relation message, so that cached
	// statements of an older shape are never reused.
	version int
}

func newRelation(m *pglogrepl.RelationMessage, version int) *relation {
	r := &relation{
		id:       m.RelationID,
		schema:   m.Namespace,
		name:     m.RelationName,
		identity: m.ReplicaIdentity,
		internal: m.Namespace == "pgswitch",
		version:  version,
	}
	for _, c := range m.Columns {
		r.columns = append(r.columns, pgutil.Ident(c.Name))
		r.key = append(r.key, c.Flags&1 != 0)
		r.userType = append(r.userType, c.DataType >= firstNormalObjectID)
	}
	return r
}

func (r *relation) qualified() string { return pgutil.Qualified(r.schema, r.name) }

func (r *relation) String() string { return r.schema + "." + r.name }

// stmtKind is the kind of a generated statement.
type stmtKind byte

const (
	kindInsert stmtKind = 'I'
	kindUpdate stmtKind = 'U'
	kindDelete stmtKind = 'D'
)

// stmtKey identifies one prepared statement shape: the relation (and the
// version of its description), the kind, which columns are set and which
// identify the row.
type stmtKey struct {
	rel     uint32
	version int
	kind    stmtKind
	set     string // one byte per column: 1 = column is assigned
	where   string // one byte per column: 1 = column identifies the row
}

// shape builds the key and the parameter list for one change.
//
// For INSERT every sent column is assigned. For UPDATE, columns whose value
// is an unchanged TOASTed datum ('u') are left out of SET, so they are never
// overwritten. The row is found by the replica identity key (from the old
// key tuple when the key changed, else from the new tuple), or, for
// REPLICA IDENTITY FULL, by every sent column of the old tuple.
func shape(r *relation, kind stmtKind, oldT, newT *pglogrepl.TupleData) (stmtKey, [][]byte, error) {
	n := len(r.columns)
	set := make([]byte, n)
	where := make([]byte, n)
	params := make([][]byte, 0, n*2)

	if newT != nil {
		if len(newT.Columns) != n {
			return stmtKey{}, nil, fmt.Errorf("table %s: change has %d columns, relation message had %d", r, len(newT.Columns), n)
		}
		for i, c := range newT.Columns {
			if c.DataType == pglogrepl.TupleDataTypeToast {
				continue
			}
			set[i] = 1
			params = append(params, value(c))
		}
	}
	if kind != kindInsert {
		src := oldT
		if src == nil {
			src = newT
		}
		if src == nil || len(src.Columns) != n {
			return stmtKey{}, nil, fmt.Errorf("table %s: change carries no usable row identity", r)
		}
		full := r.identity == identityFull
		for i, c := range src.Columns {
			if !full && !r.key[i] {
				continue
			}
			if c.DataType == pglogrepl.TupleDataTypeToast {
				if !full {
					return stmtKey{}, nil, fmt.Errorf("table %s: key column %s arrived as an unchanged TOAST value", r, r.columns[i])
				}
				continue
			}
			where[i] = 1
			params = append(params, value(c))
		}
		if !strings.ContainsRune(string(where), 1) {
			return stmtKey{}, nil, fmt.Errorf("table %s has no replica identity (REPLICA IDENTITY %c)", r, r.identity)
		}
	}
	return stmtKey{rel: r.id, version: r.version, kind: kind, set: string(set), where: string(where)}, params, nil
}

// value is the text-format parameter for one column (nil is NULL).
func value(c *pglogrepl.TupleDataColumn) []byte {
	if c.DataType == pglogrepl.TupleDataTypeNull {
		return nil
	}
	return c.Data
}

// statementSQL renders the statement for a key.
func statementSQL(r *relation, k stmtKey) string {
	var b strings.Builder
	p := 0
	next := func() string { p++; return fmt.Sprintf("$%d", p) }
	switch k.kind {
	case kindInsert:
		var cols, vals []string
		for i, on := range []byte(k.set) {
			if on == 1 {
				cols = append(cols, r.columns[i])
				vals = append(vals, next())
			}
		}
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES (%s)", r.qualified(), strings.Join(cols, ", "), strings.Join(vals, ", "))
		return b.String()
	case kindUpdate:
		var sets []string
		for i, on := range []byte(k.set) {
			if on == 1 {
				sets = append(sets, r.columns[i]+" = "+next())
			}
		}
		fmt.Fprintf(&b, "UPDATE %s SET %s WHERE %s", r.qualified(), strings.Join(sets, ", "), whereSQL(r, k, next))
	case kindDelete:
		fmt.Fprintf(&b, "DELETE FROM %s WHERE %s", r.qualified(), whereSQL(r, k, next))
	}
	return b.String()
}

// firstNormalObjectID is PostgreSQL's FirstNormalObjectId: OIDs below it
// are built in and the same on every server.
const firstNormalObjectID = 16384

// whereSQL finds exactly one row. With a key, equality on the key columns
// (which the key's index serves). With REPLICA IDENTITY FULL there may be no
// index and duplicate rows, and some types (json, point) have no equality
// operator: compare the text forms, NULL-safe, and touch only the first
// matching row, as PostgreSQL's own apply does.
func whereSQL(r *relation, k stmtKey, next func() string) string {
	var conds []string
	full := r.identity == identityFull
	for i, on := range []byte(k.where) {
		if on != 1 {
			continue
		}
		if full {
			conds = append(conds, fmt.Sprintf("%s::text IS NOT DISTINCT FROM %s::text", r.columns[i], next()))
		} else if r.userType[i] {
			// "k = $1" with an untyped parameter resolves a composite
			// key to record = record, and the parameter to an anonymous
			// record, which has no input. The polymorphic equality
			// resolves the parameter to the local column's own type, by
			// name on the standby, and is inlined (the key's index serves).
			conds = append(conds, fmt.Sprintf("pgswitch.key_eq(%s, %s)", r.columns[i], next()))
		} else {
			conds = append(conds, r.columns[i]+" = "+next())
		}
	}
	cond := strings.Join(conds, " AND ")
	if !full {
		return cond
	}
	return fmt.Sprintf("ctid = (SELECT ctid FROM %s WHERE %s LIMIT 1)", r.qualified(), cond)
}

// truncateSQL renders a TRUNCATE of the listed relations. CASCADE is not
// honoured (as in PostgreSQL's own apply): every truncated table that is
// published arrives in the list itself.
func truncateSQL(rels []*relation, options uint8) string {
	names := make([]string, len(rels))
	for i, r := range rels {
		names[i] = r.qualified()
	}
	sql := "TRUNCATE ONLY " + strings.Join(names, ", ")
	if options&2 != 0 {
		sql += " RESTART IDENTITY"
	}
	return sql
}
