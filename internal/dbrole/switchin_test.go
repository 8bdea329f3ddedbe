package dbrole

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func nextval(t *testing.T, db, seq string) string {
	t.Helper()
	s, err := cluster(t).QueryString(testCtx(t), db, "SELECT nextval($1)::text", seq)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Sequences are per database, so two databases of one cluster stand for the
// old and the new active (CopySequences does not look at system identifiers).
func TestCopySequences(t *testing.T) {
	old, cur := newDB(t, "seq_old"), newDB(t, "seq_new")
	ctx := context.Background()
	const ddl = `CREATE SCHEMA "My Schema";
		CREATE SEQUENCE "My Schema"."Odd ""Name""";
		CREATE SEQUENCE public.orders_id_seq;
		CREATE SEQUENCE public.higher_here;
		CREATE SEQUENCE public.unused;`
	exec(t, "seq_old", ddl)
	exec(t, "seq_new", ddl)
	exec(t, "seq_old", `SELECT setval('public.orders_id_seq', 100), setval('"My Schema"."Odd ""Name"""', 42), setval('public.higher_here', 5)`)
	// On the new active: one behind, one ahead (a retried switch-in), one
	// used here only.
	exec(t, "seq_new", `SELECT nextval('public.orders_id_seq'), setval('public.higher_here', 50), setval('public.unused', 9)`)

	got, err := cur.CopySequences(ctx, old)
	if err != nil {
		t.Fatalf("CopySequences: %v", err)
	}
	want := []SequenceCopy{
		{Name: `"My Schema"."Odd ""Name"""`, From: 42, To: 42},
		{Name: `"public"."higher_here"`, From: 5, To: 50},
		{Name: `"public"."orders_id_seq"`, From: 100, To: 100},
	}
	if !slices.Equal(got, want) {
		t.Errorf("CopySequences =\n  %+v\nwant\n  %+v", got, want)
	}
	for _, tc := range []struct{ seq, want string }{
		{"public.orders_id_seq", "101"}, // carried past the old active's 100
		{`"My Schema"."Odd ""Name"""`, "43"},
		{"public.higher_here", "51"}, // not moved back
		{"public.unused", "10"},      // never used on the old active: left alone
	} {
		if got := nextval(t, "seq_new", tc.seq); got != tc.want {
			t.Errorf("nextval(%s) on the new active = %s, want %s", tc.seq, got, tc.want)
		}
	}
	// The old active is only read.
	if got := nextval(t, "seq_old", "public.higher_here"); got != "6" {
		t.Errorf("nextval(higher_here) on the old active = %s, want 6", got)
	}

	// A used sequence missing on the new active is schema drift.
	exec(t, "seq_old", "CREATE SEQUENCE public.only_old; SELECT setval('public.only_old', 3)")
	if _, err := cur.CopySequences(ctx, old); err == nil || !strings.Contains(err.Error(), `"public"."only_old"`) {
		t.Errorf("CopySequences with a sequence missing here: %v, want an error naming public.only_old", err)
	}
}
