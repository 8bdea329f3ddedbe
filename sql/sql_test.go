package sql

import (
	"strings"
	"testing"
)

func TestQueriesParse(t *testing.T) {
	names := Names()
	if len(names) < 10 {
		t.Fatalf("only %d named queries parsed", len(names))
	}
	for _, n := range names {
		q := Query(n)
		if q == "" || strings.Contains(q, "-- name:") {
			t.Errorf("query %s parsed badly: %q", n, q)
		}
	}
	if !strings.Contains(Query("client_backends"), "pg_stat_activity") {
		t.Errorf("client_backends lost its body")
	}
}

func TestUnknownQueryPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Query of an unknown name did not panic")
		}
	}()
	Query("no_such_query")
}

func TestSchemaIsIdempotentDDL(t *testing.T) {
	for _, want := range []string{"CREATE SCHEMA IF NOT EXISTS pgswitch", "pgswitch.fence()", "pgswitch.apply_commit"} {
		if !strings.Contains(Schema, want) {
			t.Errorf("schema.sql lacks %q", want)
		}
	}
	if strings.Contains(Schema, "CREATE TABLE") {
		t.Errorf("schema.sql must not create tables: FOR ALL TABLES would publish them")
	}
}
