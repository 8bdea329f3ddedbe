package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
)

// The kinds of values of PostgreSQL's own subscription type test
// (src/test/subscription/t/002_types.pl) used as keys and as values: arrays
// as keys, composites as keys, nested composites holding arrays of
// composites and enum arrays, enums and enum arrays, ranges and arrays of
// ranges, hstore, domains (one over a function). The user-defined types get
// other OIDs on the standby than on the primary (types are resolved by name
// there). Each table is written with INSERT, UPDATE of the key and of other
// columns, DELETE and TRUNCATE, with a primary key and with REPLICA IDENTITY
// FULL, through the initial copy and the stream, and compared by content hash.
const typesSchema = `
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TYPE color AS ENUM ('red', 'green', 'blue');
CREATE TYPE pt AS (x float8, label text, n int);
CREATE TYPE nested AS (p pt, ps pt[], cs color[], r int4range);
CREATE FUNCTION positive(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 > 0';
CREATE DOMAIN pos AS int CHECK (positive(VALUE));
CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 40);
CREATE TABLE t_int_array (k int[] PRIMARY KEY, v text);
CREATE TABLE t_text_array (k text[] PRIMARY KEY, v text);
CREATE TABLE t_enum (k color PRIMARY KEY, ks color[], v text);
CREATE TABLE t_composite (k pt PRIMARY KEY, items pt[], v text);
CREATE TABLE t_nested (k int PRIMARY KEY, n nested, ns nested[]);
CREATE TABLE t_range (k int4range PRIMARY KEY, rs tstzrange[], nr numrange, v text);
CREATE TABLE t_hstore (k int PRIMARY KEY, h hstore, hs hstore[]);
CREATE TABLE t_domain (k pos PRIMARY KEY, s short_text, ds pos[]);
CREATE TABLE t_full (c pt, cs color[], r int4range, h hstore, d pos, a int[]);
ALTER TABLE t_full REPLICA IDENTITY FULL;
CREATE TABLE t_full_comp (k pt, items pt[]);
ALTER TABLE t_full_comp REPLICA IDENTITY FULL;
`

var typesTables = []string{"t_int_array", "t_text_array", "t_enum", "t_composite", "t_nested", "t_range", "t_hstore", "t_domain", "t_full", "t_full_comp"}

// typesRows fills every table; round makes the values of one batch distinct.
func typesRows(round int) string {
	return fmt.Sprintf(`
INSERT INTO t_int_array SELECT ARRAY[i, %[1]d], 'v' || i FROM generate_series(1, 20) i;
INSERT INTO t_text_array SELECT ARRAY['a' || i, 'r%[1]d', NULL], 'v' || i FROM generate_series(1, 20) i;
INSERT INTO t_enum SELECT c, ARRAY[c, 'red']::color[], 'v' FROM unnest(enum_range(NULL::color)) c
  WHERE CASE %[1]d WHEN 0 THEN c <> 'blue' WHEN 1 THEN c = 'blue' ELSE true END;
INSERT INTO t_composite SELECT ROW(i + 0.5 + %[1]d * 100, 'l,"(' || i, i)::pt, ARRAY[ROW(1.25, 'x y', i)::pt, ROW(NULL, NULL, NULL)::pt], 'v' FROM generate_series(1, 20) i;
INSERT INTO t_nested SELECT i + %[1]d * 100, ROW(ROW(i, 'p', i)::pt, ARRAY[ROW(2, 'q', 3)::pt], ARRAY['red', 'blue']::color[], int4range(i, i + 10))::nested,
  ARRAY[ROW(ROW(1, 'z', 1)::pt, ARRAY[]::pt[], ARRAY['green']::color[], 'empty'::int4range)::nested] FROM generate_series(1, 20) i;
INSERT INTO t_range SELECT int4range(i, i + 1 + %[1]d * 100), ARRAY[tstzrange('2026-01-01', '2026-02-01'), tstzrange(NULL, now())], numrange(0.5, i), 'v' FROM generate_series(1, 20) i;
INSERT INTO t_hstore SELECT i + %[1]d * 100, ('a=>' || i || ', "b c"=>NULL')::hstore, ARRAY['x=>1'::hstore] FROM generate_series(1, 20) i;
INSERT INTO t_domain SELECT i + %[1]d * 100, 'short ' || i, ARRAY[1, 2]::pos[] FROM generate_series(1, 20) i;
INSERT INTO t_full SELECT ROW(i, 'f', %[1]d)::pt, ARRAY['red']::color[], int4range(i, 99), 'k=>v'::hstore, i, ARRAY[i] FROM generate_series(1, 20) i;
INSERT INTO t_full_comp SELECT ROW(i, 'dup', %[1]d)::pt, ARRAY[ROW(i, 'i', i)::pt] FROM generate_series(1, 10) i, generate_series(1, 2);
`, round)
}

const typesChanges = `
UPDATE t_int_array SET v = v || '!' WHERE k[1] %% 3 = 0;
UPDATE t_int_array SET k = k || 7 WHERE k[1] %% 3 = 1;
DELETE FROM t_int_array WHERE k[1] %% 3 = 2;
UPDATE t_text_array SET v = 'u' WHERE k[1] LIKE 'a1%%';
UPDATE t_text_array SET k = k || 'moved'::text WHERE k[1] = 'a2';
DELETE FROM t_text_array WHERE k[1] = 'a3';
UPDATE t_enum SET ks = ks || 'green'::color, v = 'u' WHERE k = 'green';
DELETE FROM t_enum WHERE k = 'red';
UPDATE t_enum SET k = 'red' WHERE k = 'green';
UPDATE t_composite SET v = 'upd' WHERE (k).n %% 3 = 0;
UPDATE t_composite SET k = ROW((k).x, (k).label || ' moved', (k).n)::pt WHERE (k).n %% 3 = 1;
UPDATE t_composite SET items = items || ROW(9, 'more', 9)::pt WHERE (k).n = 5;
DELETE FROM t_composite WHERE (k).n %% 3 = 2;
UPDATE t_nested SET n.cs = ARRAY['blue']::color[] WHERE k %% 2 = 0;
UPDATE t_nested SET k = k + 10000 WHERE k %% 5 = 0;
DELETE FROM t_nested WHERE k %% 7 = 0;
UPDATE t_range SET v = 'u', rs = rs || tstzrange('2027-01-01', NULL) WHERE lower(k) %% 2 = 0;
UPDATE t_range SET k = int4range(lower(k) + 1000, upper(k) + 1000) WHERE lower(k) %% 3 = 0;
DELETE FROM t_range WHERE lower(k) %% 5 = 0;
UPDATE t_hstore SET h = h || 'new=>1'::hstore WHERE k %% 2 = 0;
DELETE FROM t_hstore WHERE k %% 3 = 0;
UPDATE t_domain SET s = 'changed', ds = ds || 3 WHERE k %% 2 = 0;
UPDATE t_domain SET k = k + 5000 WHERE k %% 3 = 0;
DELETE FROM t_domain WHERE k %% 5 = 0;
UPDATE t_full SET cs = ARRAY['blue', 'green']::color[], h = h || 'x=>y'::hstore WHERE d %% 2 = 0;
UPDATE t_full SET c = ROW((c).x, 'moved', (c).n)::pt WHERE d %% 3 = 0;
DELETE FROM t_full WHERE d %% 5 = 0;
UPDATE t_full_comp SET items = ARRAY[]::pt[] WHERE (k).x = 1;
DELETE FROM t_full_comp WHERE (k).x = 2;
`

func TestTypesApplyLikeNative(t *testing.T) {
	p := newPair(t, harness.Options{})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	// Other OIDs on the standby for every user-defined type.
	must(t, b.Cluster.Exec(ctx, harness.DB, "CREATE TYPE pad1 AS (x int); CREATE TYPE pad2 AS ENUM ('x'); CREATE DOMAIN pad3 AS int; DROP TYPE pad1, pad2; DROP DOMAIN pad3"))
	for _, n := range p.Nodes {
		must(t, n.Cluster.Exec(ctx, harness.DB, typesSchema))
	}
	oa, _ := a.Cluster.QueryString(ctx, harness.DB, "SELECT 'pt'::regtype::oid::text")
	ob, _ := b.Cluster.QueryString(ctx, harness.DB, "SELECT 'pt'::regtype::oid::text")
	if oa == ob {
		t.Fatalf("type pt has OID %s on both nodes: the test would not prove resolution by name", oa)
	}
	must(t, a.Cluster.Exec(ctx, harness.DB, typesRows(0))) // the initial copy
	startBoth(t, ctx, p)
	must(t, p.WaitStreaming(ctx, b, false))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, typesTables...))

	// check compares the schemas: equal, although the OIDs differ.
	if out, errOut, code, err := p.Run(ctx, b, "check"); err != nil || code != 0 {
		t.Fatalf("check: exit %d %v\n%s%s", code, err, out, errOut)
	}

	must(t, a.Cluster.Exec(ctx, harness.DB, typesRows(1)))
	must(t, a.Cluster.Exec(ctx, harness.DB, fmt.Sprintf(typesChanges)))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, typesTables...))
	st, err := p.Status(ctx, b)
	must(t, err)
	if st.Replication == nil || st.Replication.Fault != "" || len(st.Faults) != 0 {
		t.Fatalf("standby after the changes: faults %+v, replication %+v", st.Faults, st.Replication)
	}

	for _, tb := range typesTables {
		must(t, a.Cluster.Exec(ctx, harness.DB, "TRUNCATE "+tb))
	}
	must(t, a.Cluster.Exec(ctx, harness.DB, typesRows(2)))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, typesTables...))
	for _, tb := range typesTables {
		n, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT count(*) FROM "+tb)
		must(t, err)
		if n == "0" {
			t.Errorf("%s is empty on the standby after the last batch", tb)
		}
	}
}

// check spells out user-defined types: a composite, an enum or a domain of
// the same name but another definition on the standby is schema drift,
// named with both definitions (the names alone are equal).
func TestCheckFindsUserTypeDrift(t *testing.T) {
	p := newPair(t, harness.Options{})
	ctx := ctxFor(t, 2*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	must(t, a.Cluster.Exec(ctx, harness.DB, typesSchema))
	must(t, b.Cluster.Exec(ctx, harness.DB, strings.NewReplacer(
		"n int);", "n bigint);",
		"'blue')", "'blue', 'violet')",
		"length(VALUE) < 40", "length(VALUE) < 80",
	).Replace(typesSchema)))
	runCLI(t, p, cliCase{name: "check with drifted user types", node: 0, args: []string{"check"}, wantCode: 1, wantOut: []string{
		"public.t_composite: column k's type pt is pt composite (x double precision, label text, n integer) on node-a but pt composite (x double precision, label text, n bigint) on node-b",
		"public.t_enum: column k's type color is color enum ('red', 'green', 'blue') on node-a but color enum ('red', 'green', 'blue', 'violet') on node-b",
		"public.t_domain: column s's type short_text is short_text domain over text CHECK ((length(VALUE) < 40)) on node-a but short_text domain over text CHECK ((length(VALUE) < 80)) on node-b",
		// nested: the drift inside pt shows in nested and its arrays too.
		"public.t_nested: column n's type nested is",
	}})
}
