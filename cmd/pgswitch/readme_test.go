package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/pgswitch/pgswitch/internal/handshake"
)

// The README's state diagram is the transition table, not a drawing that
// drifts from it.
func TestReadmeDiagramMatchesTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```mermaid\n")
	if !ok {
		t.Fatal("README.md has no mermaid block")
	}
	block, _, _ := strings.Cut(rest, "```")
	if block != handshake.Mermaid() {
		t.Fatalf("README.md's diagram differs from `pgswitch diagram`; paste its output:\n%s", handshake.Mermaid())
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, 0},
		{[]string{"nonsense"}, 2},
		{[]string{"check"}, 2},
		{[]string{"init", "--role", "primary"}, 2},
		{[]string{"promote", "--config", "/nonexistent.yaml"}, 2},
		{[]string{"promote", "--timeout", "-1s", "--config", "x"}, 2},
	} {
		var out, errOut bytes.Buffer
		if got := run(c.args, &out, &errOut); got != c.want {
			t.Errorf("pgswitch %v: exit %d, want %d (%s)", c.args, got, c.want, errOut.String())
		}
	}
}
