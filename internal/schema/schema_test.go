package schema_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgswitch/pgswitch/internal/schema"
)

func orders() schema.Shape {
	return schema.Shape{
		Table: schema.Table{Schema: "public", Name: "orders"},
		Columns: []schema.Column{
			{Name: "id", Type: "bigint", NotNull: true},
			{Name: "customer", Type: "text"},
			{Name: "total", Type: "numeric(12,2)"},
			{Name: "total_cents", Type: "bigint", Generated: true},
		},
		ReplIdent:  "d",
		PrimaryKey: "id",
	}
}

func TestDiff(t *testing.T) {
	cases := []struct {
		name string
		a, b func(s *schema.Shape)
		want []string
	}{
		{"equal", nil, nil, nil},
		{"same columns in another order", nil, func(s *schema.Shape) {
			slices.Reverse(s.Columns)
		}, nil},
		{"column missing on b", nil, func(s *schema.Shape) {
			s.Columns = slices.Delete(s.Columns, 1, 2)
		}, []string{"public.orders: column customer exists on db-1 but not on db-2"}},
		{"column missing on a", func(s *schema.Shape) {
			s.Columns = slices.Delete(s.Columns, 2, 3)
		}, nil, []string{"public.orders: column total exists on db-2 but not on db-1"}},
		{"extra column on b", nil, func(s *schema.Shape) {
			s.Columns = append(s.Columns, schema.Column{Name: "note", Type: "text"})
		}, []string{"public.orders: column note exists on db-2 but not on db-1"}},
		{"type change", nil, func(s *schema.Shape) {
			s.Columns[2].Type = "numeric(14,2)"
		}, []string{"public.orders: column total is numeric(12,2) on db-1 but numeric(14,2) on db-2"}},
		{"same user type name, another definition", func(s *schema.Shape) {
			s.Columns[1].Type, s.Columns[1].TypeDef = "public.who", "public.who composite (id integer, name text)"
		}, func(s *schema.Shape) {
			s.Columns[1].Type, s.Columns[1].TypeDef = "public.who", "public.who composite (id bigint, name text)"
		}, []string{"public.orders: column customer's type public.who is public.who composite (id integer, name text) on db-1 but public.who composite (id bigint, name text) on db-2"}},
		{"same user type, same definition", func(s *schema.Shape) {
			s.Columns[1].Type, s.Columns[1].TypeDef = "public.mood", "public.mood enum ('a', 'b')"
		}, func(s *schema.Shape) {
			s.Columns[1].Type, s.Columns[1].TypeDef = "public.mood", "public.mood enum ('a', 'b')"
		}, nil},
		{"generated on a only", nil, func(s *schema.Shape) {
			s.Columns[3].Generated = false
		}, []string{"public.orders: column total_cents is generated on only one node"}},
		{"generated on b only", nil, func(s *schema.Shape) {
			s.Columns[1].Generated = true
		}, []string{"public.orders: column customer is generated on only one node"}},
		{"primary key changed", nil, func(s *schema.Shape) {
			s.PrimaryKey = "id,customer"
		}, []string{"public.orders: primary key (id) on db-1 but (id,customer) on db-2"}},
		{"primary key missing on a", func(s *schema.Shape) {
			s.PrimaryKey = ""
		}, nil, []string{"public.orders: primary key () on db-1 but (id) on db-2"}},
		{"several differences, one line each", func(s *schema.Shape) {
			s.Columns = append(s.Columns, schema.Column{Name: "only_a", Type: "int"})
		}, func(s *schema.Shape) {
			s.Columns[0].Type = "integer"
			s.Columns = append(s.Columns, schema.Column{Name: "only_b", Type: "int"})
			s.PrimaryKey = ""
		}, []string{
			"public.orders: column id is bigint on db-1 but integer on db-2",
			"public.orders: column only_a exists on db-1 but not on db-2",
			"public.orders: column only_b exists on db-2 but not on db-1",
			"public.orders: primary key (id) on db-1 but () on db-2",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := orders(), orders()
			if tc.a != nil {
				tc.a(&a)
			}
			if tc.b != nil {
				tc.b(&b)
			}
			got := schema.Diff(a, b, "db-1", "db-2")
			if len(got) == 0 {
				got = nil
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Diff =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestDiffBothWays: a difference is found whichever node is named first.
func TestDiffBothWays(t *testing.T) {
	a, b := orders(), orders()
	b.Columns = b.Columns[:2]
	b.Columns[1].Type = "varchar(20)"
	ab := schema.Diff(a, b, "db-1", "db-2")
	ba := schema.Diff(b, a, "db-2", "db-1")
	if len(ab) != 3 || len(ba) != 3 {
		t.Fatalf("Diff a,b = %q\nDiff b,a = %q\nwant 3 lines each", ab, ba)
	}
	for _, line := range ab {
		if !strings.HasPrefix(line, "public.orders: ") {
			t.Errorf("line %q does not start with the table", line)
		}
	}
}

func TestIdentifiable(t *testing.T) {
	cases := []struct {
		ident, pk, index string
		want             bool
	}{
		{"d", "id", "", true},
		{"d", "tenant,id", "", true},
		{"d", "", "", false},
		{"d", "", "orders_email_key", false},
		{"f", "", "", true},
		{"f", "id", "", true},
		{"i", "", "orders_email_key", true},
		{"i", "id", "", false},
		{"i", "", "", false},
		{"n", "id", "", false},
		{"n", "", "", false},
		{"", "id", "", false},
	}
	for _, tc := range cases {
		s := schema.Shape{ReplIdent: tc.ident, PrimaryKey: tc.pk, IdentityIndex: tc.index}
		if got := s.Identifiable(); got != tc.want {
			t.Errorf("REPLICA IDENTITY %q, primary key %q, identity index %q: Identifiable = %v, want %v",
				tc.ident, tc.pk, tc.index, got, tc.want)
		}
	}
}

func TestParseTable(t *testing.T) {
	cases := []struct {
		in          string
		want        schema.Table
		str, quoted string
	}{
		{"orders", schema.Table{Schema: "public", Name: "orders"}, "public.orders", `"public"."orders"`},
		{"public.orders", schema.Table{Schema: "public", Name: "orders"}, "public.orders", `"public"."orders"`},
		{"billing.invoices", schema.Table{Schema: "billing", Name: "invoices"}, "billing.invoices", `"billing"."invoices"`},
	}
	for _, tc := range cases {
		got := schema.ParseTable(tc.in)
		if got != tc.want {
			t.Errorf("ParseTable(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if got.String() != tc.str || got.Quoted() != tc.quoted {
			t.Errorf("ParseTable(%q): String %q, Quoted %q; want %q, %q", tc.in, got.String(), got.Quoted(), tc.str, tc.quoted)
		}
	}
	if got := (schema.Table{Schema: "My Schema", Name: `we"ird`}).Quoted(); got != `"My Schema"."we""ird"` {
		t.Errorf("Quoted of odd names = %s", got)
	}
}

func TestCopyColumns(t *testing.T) {
	s := orders()
	if got, want := s.CopyColumns(), []string{`"id"`, `"customer"`, `"total"`}; !slices.Equal(got, want) {
		t.Errorf("CopyColumns = %q, want %q (generated total_cents skipped)", got, want)
	}
	s.Columns = []schema.Column{
		{Name: "Mixed Case", Type: "int"},
		{Name: "gen", Type: "int", Generated: true},
		{Name: `quo"te`, Type: "text"},
		{Name: "gen2", Type: "int", Generated: true},
	}
	if got, want := s.CopyColumns(), []string{`"Mixed Case"`, `"quo""te"`}; !slices.Equal(got, want) {
		t.Errorf("CopyColumns = %q, want %q", got, want)
	}
	s.Columns = []schema.Column{{Name: "g", Generated: true}}
	if got := s.CopyColumns(); len(got) != 0 {
		t.Errorf("CopyColumns of only generated columns = %q, want none", got)
	}
}
