package replication

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pglogrepl"
)

// col describes one column of a Relation message.
type col struct {
	name string
	key  bool
	typ  uint32 // type OID on the source; 0: text
}

// relMsg builds a Relation message by hand, as pgoutput sends it.
func relMsg(id uint32, ns, name string, identity byte, cols ...col) *pglogrepl.RelationMessage {
	m := &pglogrepl.RelationMessage{RelationID: id, Namespace: ns, RelationName: name, ReplicaIdentity: identity, ColumnNum: uint16(len(cols))}
	for _, c := range cols {
		rc := &pglogrepl.RelationMessageColumn{Name: c.name, DataType: 25, TypeModifier: -1}
		if c.typ != 0 {
			rc.DataType = c.typ
		}
		if c.key {
			rc.Flags = 1
		}
		m.Columns = append(m.Columns, rc)
	}
	return m
}

// tableT is public.t (id key, name, note) with the given identity.
func tableT(identity byte) *relation {
	return newRelation(relMsg(42, "public", "t", identity, col{name: "id", key: true}, col{name: "name", key: false}, col{name: "note", key: false}), 1)
}

// unchangedToast marks an unchanged TOAST value ('u') in tup.
type unchangedToast struct{}

var toast = unchangedToast{}

// tup builds tuple data: a string is a text value, nil is NULL, toast is an
// unchanged TOAST value.
func tup(vals ...any) *pglogrepl.TupleData {
	td := &pglogrepl.TupleData{ColumnNum: uint16(len(vals))}
	for _, v := range vals {
		var c *pglogrepl.TupleDataColumn
		switch x := v.(type) {
		case nil:
			c = &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeNull}
		case unchangedToast:
			c = &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeToast}
		case string:
			c = &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeText, Length: uint32(len(x)), Data: []byte(x)}
		default:
			panic(fmt.Sprintf("tup: %T", v))
		}
		td.Columns = append(td.Columns, c)
	}
	return td
}

// params builds the expected parameter list: a string is a text value, nil
// is NULL.
func params(vals ...any) [][]byte {
	out := make([][]byte, len(vals))
	for i, v := range vals {
		if v != nil {
			out[i] = []byte(v.(string))
		}
	}
	return out
}

func showParams(ps [][]byte) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		if p == nil {
			parts[i] = "NULL"
		} else {
			parts[i] = strconv.Quote(string(p))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func equalParams(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y []byte) bool {
		return (x == nil) == (y == nil) && string(x) == string(y)
	})
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// checkNumbering: the statement uses $1..$n each exactly once, in
// increasing order, with n the number of parameters.
func checkNumbering(t *testing.T, sql string, n int) {
	t.Helper()
	var got []int
	for _, m := range placeholder.FindAllStringSubmatch(sql, -1) {
		k, _ := strconv.Atoi(m[1])
		got = append(got, k)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	if len(got) == 0 {
		got = []int{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("placeholders %v in %q, want %v for %d parameters", got, sql, want, n)
	}
}

// render puts the parameters into the statement, so that a case can say
// which value lands where.
func render(sql string, ps [][]byte) string {
	return placeholder.ReplaceAllStringFunc(sql, func(m string) string {
		k, _ := strconv.Atoi(m[1:])
		if k < 1 || k > len(ps) {
			return "<" + m + "?>"
		}
		if ps[k-1] == nil {
			return "NULL"
		}
		return "'" + strings.ReplaceAll(string(ps[k-1]), "'", "''") + "'"
	})
}

func bits(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		b.WriteByte('0' + c)
	}
	return b.String()
}

func TestStatements(t *testing.T) {
	fullT := newRelation(relMsg(43, "public", "f", identityFull, col{name: "id", key: true}, col{name: "name", key: true}, col{name: "note", key: true}), 1)
	fullNoFlags := newRelation(relMsg(44, "public", "f", identityFull, col{name: "id", key: false}, col{name: "name", key: false}, col{name: "note", key: false}), 1)
	composite := newRelation(relMsg(45, "app", "orders", identityDefault, col{name: "tenant", key: true}, col{name: "body", key: false}, col{name: "id", key: true}), 1)
	byIndex := newRelation(relMsg(46, "public", "u", identityIndex, col{name: "id", key: false}, col{name: "email", key: true}), 1)
	odd := newRelation(relMsg(47, "My Schema", `Order"s`, identityDefault,
		col{name: "Id", key: true}, col{name: "first name", key: false}, col{name: `quo"te`, key: false}, col{name: "select", key: false}), 1)

	// A key of a user-defined type (OID 16384 and above on the source: a
	// composite, enum, domain, range or an array of one) beside a built-in
	// one (int4, and int4[] below 16384).
	userKey := newRelation(relMsg(48, "public", "uk", identityDefault,
		col{name: "k", key: true, typ: 16390}, col{name: "n", key: true, typ: 23}, col{name: "tags", key: true, typ: 1007}, col{name: "v", key: false, typ: 16400}), 1)
	userFull := newRelation(relMsg(49, "public", "uf", identityFull, col{name: "k", key: true, typ: 16390}, col{name: "v", key: true, typ: 23}), 1)

	const fullWhere = `ctid = (SELECT ctid FROM "public"."f" WHERE "id"::text IS NOT DISTINCT FROM %s::text AND "name"::text IS NOT DISTINCT FROM %s::text AND "note"::text IS NOT DISTINCT FROM %s::text LIMIT 1)`

	cases := []struct {
		name     string
		rel      *relation
		kind     stmtKind
		old, new *pglogrepl.TupleData
		sql      string
		params   [][]byte
		set      string // '1' per assigned column
		where    string // '1' per identifying column
		rendered string // sql with the parameters in place; "" to skip
	}{
		{
			name: "insert with a NULL", rel: tableT(identityDefault), kind: kindInsert,
			new:    tup("1", nil, "x"),
			sql:    `INSERT INTO "public"."t" ("id", "name", "note") VALUES ($1, $2, $3)`,
			params: params("1", nil, "x"),
			set:    "111", where: "000",
			rendered: `INSERT INTO "public"."t" ("id", "name", "note") VALUES ('1', NULL, 'x')`,
		},
		{
			name: "insert of only NULLs but the key", rel: tableT(identityDefault), kind: kindInsert,
			new:    tup("7", nil, nil),
			sql:    `INSERT INTO "public"."t" ("id", "name", "note") VALUES ($1, $2, $3)`,
			params: params("7", nil, nil),
			set:    "111", where: "000",
		},
		{
			name: "update with an unchanged TOAST column left out of SET", rel: tableT(identityDefault), kind: kindUpdate,
			new:    tup("1", toast, "y"),
			sql:    `UPDATE "public"."t" SET "id" = $1, "note" = $2 WHERE "id" = $3`,
			params: params("1", "y", "1"),
			set:    "101", where: "100",
			rendered: `UPDATE "public"."t" SET "id" = '1', "note" = 'y' WHERE "id" = '1'`,
		},
		{
			name: "update without old tuple takes the key from the new tuple", rel: tableT(identityDefault), kind: kindUpdate,
			new:    tup("5", "a", nil),
			sql:    `UPDATE "public"."t" SET "id" = $1, "name" = $2, "note" = $3 WHERE "id" = $4`,
			params: params("5", "a", nil, "5"),
			set:    "111", where: "100",
			rendered: `UPDATE "public"."t" SET "id" = '5', "name" = 'a', "note" = NULL WHERE "id" = '5'`,
		},
		{
			name: "update with a key change uses the old key tuple", rel: tableT(identityDefault), kind: kindUpdate,
			old:    tup("1", nil, nil), // 'K': key columns only, the others NULL
			new:    tup("2", "a", "b"),
			sql:    `UPDATE "public"."t" SET "id" = $1, "name" = $2, "note" = $3 WHERE "id" = $4`,
			params: params("2", "a", "b", "1"),
			set:    "111", where: "100",
			rendered: `UPDATE "public"."t" SET "id" = '2', "name" = 'a', "note" = 'b' WHERE "id" = '1'`,
		},
		{
			name: "update with key change and an unchanged TOAST column", rel: tableT(identityDefault), kind: kindUpdate,
			old:    tup("1", nil, nil),
			new:    tup("2", toast, "b"),
			sql:    `UPDATE "public"."t" SET "id" = $1, "note" = $2 WHERE "id" = $3`,
			params: params("2", "b", "1"),
			set:    "101", where: "100",
			rendered: `UPDATE "public"."t" SET "id" = '2', "note" = 'b' WHERE "id" = '1'`,
		},
		{
			name: "update with a composite key in column order", rel: composite, kind: kindUpdate,
			old:    tup("t1", nil, "9"),
			new:    tup("t2", "{}", "10"),
			sql:    `UPDATE "app"."orders" SET "tenant" = $1, "body" = $2, "id" = $3 WHERE "tenant" = $4 AND "id" = $5`,
			params: params("t2", "{}", "10", "t1", "9"),
			set:    "111", where: "101",
			rendered: `UPDATE "app"."orders" SET "tenant" = 't2', "body" = '{}', "id" = '10' WHERE "tenant" = 't1' AND "id" = '9'`,
		},
		{
			name: "update by a user-type key compares through the session's polymorphic equality", rel: userKey, kind: kindUpdate,
			old:    tup("(1,a)", "2", "{3}", nil),
			new:    tup("(1,b)", "2", "{3}", "x"),
			sql:    `UPDATE "public"."uk" SET "k" = $1, "n" = $2, "tags" = $3, "v" = $4 WHERE pgswitch.key_eq("k", $5) AND "n" = $6 AND "tags" = $7`,
			params: params("(1,b)", "2", "{3}", "x", "(1,a)", "2", "{3}"),
			set:    "1111", where: "1110",
		},
		{
			name: "delete by a user-type key", rel: userKey, kind: kindDelete,
			old:    tup("(1,a)", "2", "{3}", nil),
			sql:    `DELETE FROM "public"."uk" WHERE pgswitch.key_eq("k", $1) AND "n" = $2 AND "tags" = $3`,
			params: params("(1,a)", "2", "{3}"),
			set:    "0000", where: "1110",
		},
		{
			name: "FULL identity compares a user type as text like any other", rel: userFull, kind: kindDelete,
			old:    tup("(1,a)", "5"),
			sql:    `DELETE FROM "public"."uf" WHERE ctid = (SELECT ctid FROM "public"."uf" WHERE "k"::text IS NOT DISTINCT FROM $1::text AND "v"::text IS NOT DISTINCT FROM $2::text LIMIT 1)`,
			params: params("(1,a)", "5"),
			set:    "00", where: "11",
		},
		{
			name: "update by replica identity index", rel: byIndex, kind: kindUpdate,
			new:    tup("3", "a@example.com"),
			sql:    `UPDATE "public"."u" SET "id" = $1, "email" = $2 WHERE "email" = $3`,
			params: params("3", "a@example.com", "a@example.com"),
			set:    "11", where: "01",
		},
		{
			name: "delete by key", rel: tableT(identityDefault), kind: kindDelete,
			old:    tup("1", nil, nil),
			sql:    `DELETE FROM "public"."t" WHERE "id" = $1`,
			params: params("1"),
			set:    "000", where: "100",
			rendered: `DELETE FROM "public"."t" WHERE "id" = '1'`,
		},
		{
			name: "delete by composite key", rel: composite, kind: kindDelete,
			old:    tup("t1", nil, "9"),
			sql:    `DELETE FROM "app"."orders" WHERE "tenant" = $1 AND "id" = $2`,
			params: params("t1", "9"),
			set:    "000", where: "101",
			rendered: `DELETE FROM "app"."orders" WHERE "tenant" = 't1' AND "id" = '9'`,
		},
		{
			name: "full identity update finds one row by ctid with text comparisons", rel: fullT, kind: kindUpdate,
			old:    tup("1", "a", nil),
			new:    tup("1", "b", nil),
			sql:    `UPDATE "public"."f" SET "id" = $1, "name" = $2, "note" = $3 WHERE ` + fmt.Sprintf(fullWhere, "$4", "$5", "$6"),
			params: params("1", "b", nil, "1", "a", nil),
			set:    "111", where: "111",
			rendered: `UPDATE "public"."f" SET "id" = '1', "name" = 'b', "note" = NULL WHERE ` + fmt.Sprintf(fullWhere, "'1'", "'a'", "NULL"),
		},
		{
			name: "full identity ignores the key flags", rel: fullNoFlags, kind: kindUpdate,
			old:    tup("1", "a", "n"),
			new:    tup("1", "b", "n"),
			sql:    `UPDATE "public"."f" SET "id" = $1, "name" = $2, "note" = $3 WHERE ` + fmt.Sprintf(fullWhere, "$4", "$5", "$6"),
			params: params("1", "b", "n", "1", "a", "n"),
			set:    "111", where: "111",
		},
		{
			name: "full identity update skips unchanged TOAST in SET and WHERE", rel: fullT, kind: kindUpdate,
			old:    tup("1", toast, "n"),
			new:    tup("1", toast, "m"),
			sql:    `UPDATE "public"."f" SET "id" = $1, "note" = $2 WHERE ctid = (SELECT ctid FROM "public"."f" WHERE "id"::text IS NOT DISTINCT FROM $3::text AND "note"::text IS NOT DISTINCT FROM $4::text LIMIT 1)`,
			params: params("1", "m", "1", "n"),
			set:    "101", where: "101",
			rendered: `UPDATE "public"."f" SET "id" = '1', "note" = 'm' WHERE ctid = (SELECT ctid FROM "public"."f" WHERE "id"::text IS NOT DISTINCT FROM '1'::text AND "note"::text IS NOT DISTINCT FROM 'n'::text LIMIT 1)`,
		},
		{
			name: "full identity delete", rel: fullT, kind: kindDelete,
			old:    tup("1", "a", nil),
			sql:    `DELETE FROM "public"."f" WHERE ` + fmt.Sprintf(fullWhere, "$1", "$2", "$3"),
			params: params("1", "a", nil),
			set:    "000", where: "111",
			rendered: `DELETE FROM "public"."f" WHERE ` + fmt.Sprintf(fullWhere, "'1'", "'a'", "NULL"),
		},
		{
			name: "full identity delete with unchanged TOAST in the old tuple", rel: fullT, kind: kindDelete,
			old:    tup(toast, "a", "b"),
			sql:    `DELETE FROM "public"."f" WHERE ctid = (SELECT ctid FROM "public"."f" WHERE "name"::text IS NOT DISTINCT FROM $1::text AND "note"::text IS NOT DISTINCT FROM $2::text LIMIT 1)`,
			params: params("a", "b"),
			set:    "000", where: "011",
		},
		{
			name: "quoting of odd identifiers in insert", rel: odd, kind: kindInsert,
			new:    tup("1", "Ann", `say "hi"`, "x"),
			sql:    `INSERT INTO "My Schema"."Order""s" ("Id", "first name", "quo""te", "select") VALUES ($1, $2, $3, $4)`,
			params: params("1", "Ann", `say "hi"`, "x"),
			set:    "1111", where: "0000",
		},
		{
			name: "quoting of odd identifiers in update", rel: odd, kind: kindUpdate,
			old:    tup("1", nil, nil, nil),
			new:    tup("2", toast, "q", nil),
			sql:    `UPDATE "My Schema"."Order""s" SET "Id" = $1, "quo""te" = $2, "select" = $3 WHERE "Id" = $4`,
			params: params("2", "q", nil, "1"),
			set:    "1011", where: "1000",
		},
		{
			name: "quoting of odd identifiers in delete", rel: odd, kind: kindDelete,
			old:    tup("1", nil, nil, nil),
			sql:    `DELETE FROM "My Schema"."Order""s" WHERE "Id" = $1`,
			params: params("1"),
			set:    "0000", where: "1000",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, ps, err := shape(tc.rel, tc.kind, tc.old, tc.new)
			if err != nil {
				t.Fatalf("shape: %v", err)
			}
			if k.rel != tc.rel.id || k.version != tc.rel.version || k.kind != tc.kind {
				t.Errorf("key %+v: want relation %d version %d kind %c", k, tc.rel.id, tc.rel.version, tc.kind)
			}
			if got := bits(k.set); got != tc.set {
				t.Errorf("set %s, want %s", got, tc.set)
			}
			if got := bits(k.where); got != tc.where {
				t.Errorf("where %s, want %s", got, tc.where)
			}
			sql := statementSQL(tc.rel, k)
			if sql != tc.sql {
				t.Errorf("statement\n got %s\nwant %s", sql, tc.sql)
			}
			if !equalParams(ps, tc.params) {
				t.Errorf("parameters %s, want %s", showParams(ps), showParams(tc.params))
			}
			checkNumbering(t, sql, len(ps))
			if tc.rendered != "" {
				if got := render(sql, ps); got != tc.rendered {
					t.Errorf("rendered\n got %s\nwant %s", got, tc.rendered)
				}
			}
		})
	}
}

func TestShapeErrors(t *testing.T) {
	noIdentity := newRelation(relMsg(50, "public", "log", identityNothing, col{name: "at", key: false}, col{name: "msg", key: false}), 1)
	noKey := newRelation(relMsg(51, "public", "heap", identityDefault, col{name: "a", key: false}, col{name: "b", key: false}), 1)
	fullT := newRelation(relMsg(52, "public", "f", identityFull, col{name: "a", key: true}, col{name: "b", key: true}), 1)

	cases := []struct {
		name     string
		rel      *relation
		kind     stmtKind
		old, new *pglogrepl.TupleData
		mention  string
	}{
		{"update of a table with REPLICA IDENTITY NOTHING", noIdentity, kindUpdate, nil, tup("1", "x"), "no replica identity"},
		{"delete of a table with REPLICA IDENTITY NOTHING", noIdentity, kindDelete, tup("1", "x"), nil, "no replica identity"},
		{"update of a table without primary key", noKey, kindUpdate, nil, tup("1", "2"), "REPLICA IDENTITY d"},
		{"delete of a table without primary key", noKey, kindDelete, tup("1", "2"), nil, "public.heap"},
		{"insert with too few columns", tableT(identityDefault), kindInsert, nil, tup("1", "a"), "2 columns"},
		{"insert with too many columns", tableT(identityDefault), kindInsert, nil, tup("1", "a", "b", "c"), "4 columns"},
		{"update with too few new columns", tableT(identityDefault), kindUpdate, tup("1", nil, nil), tup("1", "a"), "2 columns"},
		{"update with an old tuple of the wrong width", tableT(identityDefault), kindUpdate, tup("1", nil), tup("1", "a", "b"), "no usable row identity"},
		{"delete with an old tuple of the wrong width", tableT(identityDefault), kindDelete, tup("1", nil, nil, nil), nil, "no usable row identity"},
		{"delete without old tuple", tableT(identityDefault), kindDelete, nil, nil, "no usable row identity"},
		{"update whose key arrives as unchanged TOAST", tableT(identityDefault), kindUpdate, nil, tup(toast, "a", "b"), "unchanged TOAST"},
		{"delete whose old key is unchanged TOAST", tableT(identityDefault), kindDelete, tup(toast, nil, nil), nil, "unchanged TOAST"},
		{"full identity with nothing to compare", fullT, kindDelete, tup(toast, toast), nil, "no replica identity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, ps, err := shape(tc.rel, tc.kind, tc.old, tc.new)
			if err == nil {
				t.Fatalf("shape accepted the change: key %+v, statement %s", k, statementSQL(tc.rel, k))
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
			if !strings.Contains(err.Error(), tc.rel.String()) {
				t.Errorf("error %q does not name the table %s", err, tc.rel)
			}
			if ps != nil || k != (stmtKey{}) {
				t.Errorf("key %+v and parameters %s returned with the error", k, showParams(ps))
			}
		})
	}
}

// TestStatementKeys: the key decides which prepared statement is reused, so
// it must differ exactly when the statement text differs.
func TestStatementKeys(t *testing.T) {
	r := tableT(identityDefault)
	key := func(kind stmtKind, old, new *pglogrepl.TupleData) stmtKey {
		t.Helper()
		k, _, err := shape(r, kind, old, new)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := key(kindUpdate, nil, tup("1", "a", "b"))
	if b := key(kindUpdate, nil, tup("2", nil, "c")); a != b {
		t.Errorf("other values (and a NULL) give another key: %+v vs %+v", a, b)
	}
	if b := key(kindUpdate, tup("9", nil, nil), tup("2", "x", "c")); a != b {
		t.Errorf("a key change gives another key: %+v vs %+v", a, b)
	}
	if b := key(kindUpdate, nil, tup("1", toast, "b")); a == b {
		t.Error("an unchanged TOAST column gives the same key as an assigned one")
	}
	if b := key(kindInsert, nil, tup("1", "a", "b")); a == b {
		t.Error("insert and update share a key")
	}
	r2 := newRelation(relMsg(42, "public", "t", identityDefault, col{name: "id", key: true}, col{name: "name", key: false}, col{name: "note", key: false}), 2)
	b, _, err := shape(r2, kindUpdate, nil, tup("1", "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("a new Relation message version reuses the old key")
	}
	if statementSQL(r, a) != statementSQL(r2, b) {
		t.Error("the same shape renders differently across versions")
	}
}

// TestDecodedValues: tuples as pglogrepl decodes them from the wire keep an
// empty string apart from NULL.
func TestDecodedValues(t *testing.T) {
	wire := []byte{0, 3,
		't', 0, 0, 0, 1, '7',
		't', 0, 0, 0, 0,
		'n',
	}
	var td pglogrepl.TupleData
	if _, err := td.Decode(wire); err != nil {
		t.Fatal(err)
	}
	_, ps, err := shape(tableT(identityDefault), kindInsert, nil, &td)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || string(ps[0]) != "7" || ps[1] == nil || len(ps[1]) != 0 || ps[2] != nil {
		t.Errorf("parameters %s (second nil: %v), want [\"7\", \"\", NULL]", showParams(ps), ps[1] == nil)
	}
}

func TestNewRelation(t *testing.T) {
	r := newRelation(relMsg(7, "Sales", "Order Lines", identityIndex, col{name: "ID", key: true}, col{name: "x", key: false}), 3)
	if r.id != 7 || r.version != 3 || r.identity != identityIndex || r.internal {
		t.Errorf("relation %+v", r)
	}
	if want := []string{`"ID"`, `"x"`}; !slices.Equal(r.columns, want) {
		t.Errorf("columns %q, want %q", r.columns, want)
	}
	if want := []bool{true, false}; !slices.Equal(r.key, want) {
		t.Errorf("key %v, want %v", r.key, want)
	}
	if got := r.qualified(); got != `"Sales"."Order Lines"` {
		t.Errorf("qualified %s", got)
	}
	if got := r.String(); got != "Sales.Order Lines" {
		t.Errorf("String %s", got)
	}
	if own := newRelation(relMsg(8, "pgswitch", "marker", identityFull, col{name: "a", key: false}), 1); !own.internal {
		t.Error("a table of the pgswitch schema is not internal")
	}
}

func TestTruncateSQL(t *testing.T) {
	a := newRelation(relMsg(1, "public", "a", identityDefault, col{name: "id", key: true}), 1)
	b := newRelation(relMsg(2, "Sales", "Order Lines", identityDefault, col{name: "id", key: true}), 1)
	cases := []struct {
		rels    []*relation
		options uint8
		want    string
	}{
		{[]*relation{a}, 0, `TRUNCATE ONLY "public"."a"`},
		{[]*relation{a, b}, 0, `TRUNCATE ONLY "public"."a", "Sales"."Order Lines"`},
		{[]*relation{a, b}, 1, `TRUNCATE ONLY "public"."a", "Sales"."Order Lines"`}, // CASCADE is not honoured
		{[]*relation{a, b}, 2, `TRUNCATE ONLY "public"."a", "Sales"."Order Lines" RESTART IDENTITY`},
		{[]*relation{b}, 3, `TRUNCATE ONLY "Sales"."Order Lines" RESTART IDENTITY`},
	}
	for _, tc := range cases {
		if got := truncateSQL(tc.rels, tc.options); got != tc.want {
			t.Errorf("truncateSQL(options %d)\n got %s\nwant %s", tc.options, got, tc.want)
		}
	}
}
