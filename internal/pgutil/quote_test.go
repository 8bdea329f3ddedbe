package pgutil

import "testing"

func TestLiteral(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "''"},
		{"plain", "'plain'"},
		{"it's", "'it''s'"},
		{"''", "''''''"},
		// standard_conforming_strings: a backslash is an ordinary character.
		{`a\b`, `'a\b'`},
		{`\'`, `'\'''`},
		{"héllo wörld ✓", "'héllo wörld ✓'"},
		{"line\nbreak", "'line\nbreak'"},
		{`"double"`, `'"double"'`},
	} {
		if got := Literal(tc.in); got != tc.want {
			t.Errorf("Literal(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestIdent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"users", `"users"`},
		{"", `""`},
		// Names that only survive quoted: case, spaces, dots, keywords.
		{"Users", `"Users"`},
		{"my table", `"my table"`},
		{"a.b", `"a.b"`},
		{"select", `"select"`},
		{`a"b`, `"a""b"`},
		{`"`, `""""`},
		{`back\slash`, `"back\slash"`},
		{"tëst_ü", `"tëst_ü"`},
		// A NUL cannot be part of a name: it is dropped, not passed through.
		{"a\x00b", `"ab"`},
	} {
		if got := Ident(tc.in); got != tc.want {
			t.Errorf("Ident(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestQualified(t *testing.T) {
	for _, tc := range []struct{ schema, name, want string }{
		{"public", "t", `"public"."t"`},
		{"My Schema", "T", `"My Schema"."T"`},
		{"a.b", "c.d", `"a.b"."c.d"`},
		{`s"q`, `n"m`, `"s""q"."n""m"`},
		{"", "t", `""."t"`},
	} {
		if got := Qualified(tc.schema, tc.name); got != tc.want {
			t.Errorf("Qualified(%q, %q) = %s, want %s", tc.schema, tc.name, got, tc.want)
		}
	}
}
