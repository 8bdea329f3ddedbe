package handshake

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the current output")

// TestTranscripts replays testdata/*.txt. A transcript is a sequence of
// blocks: a line "node STATE epoch=N" sets the start, a line "> event k=v…"
// feeds an event, and the lines after it (up to the next blank line) are the
// expected output: the new state and actions, or the rejection.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := replay(string(in))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if *update {
				if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(in) {
				t.Errorf("transcript %s differs (run go test -update to accept):\n%s", f, diff(string(in), got))
			}
		})
	}
}

// replay runs the input's commands and renders input plus actual outputs.
// The lines after an event, up to the next blank line, comment or command,
// are its expected output: they are checked for form (a transition and its
// actions, or a rejection) and generated anew. Anything the parser cannot
// read fails the test with its line number, so that a mistyped expectation
// can never be erased by -update.
func replay(in string) (string, error) {
	var out strings.Builder
	var n Node
	haveNode := false
	expect := 0 // output lines of the last event still allowed (its form is checked)
	for i, line := range strings.Split(strings.TrimSuffix(in, "\n"), "\n") {
		at := func(format string, args ...any) (string, error) {
			return "", fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, args...))
		}
		switch {
		case strings.HasPrefix(line, "node "):
			var err error
			if n, err = parseNode(line); err != nil {
				return at("%v", err)
			}
			haveNode, expect = true, 0
			out.WriteString(line + "\n")
		case strings.HasPrefix(line, "> "):
			if !haveNode {
				return at("an event before any node line")
			}
			e, err := parseEvent(line[2:])
			if err != nil {
				return at("%v", err)
			}
			next, acts, err := Step(n, e)
			out.WriteString(line + "\n")
			if err != nil {
				fmt.Fprintf(&out, "rejected: %v\n", err)
			} else {
				fmt.Fprintf(&out, "%s\n", render(n, next, acts))
				n = next
			}
			expect = 2
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			expect = 0
			out.WriteString(line + "\n")
		case expect == 2 && (strings.HasPrefix(line, "rejected: ") || transitionLine.MatchString(line)):
			expect = 1
			if strings.HasPrefix(line, "rejected: ") {
				expect = 0
			}
		case expect == 1 && (line == "actions:" || strings.HasPrefix(line, "actions: ")):
			expect = 0
		default:
			return at("neither a node, an event, a comment nor the expected output of an event")
		}
	}
	return out.String(), nil
}

// transitionLine is the first line of an event's output: "FROM -> TO epoch=N…".
var transitionLine = regexp.MustCompile(`^[A-Z_]+ -> [A-Z_]+ epoch=[0-9]+( |$)`)

func render(prev, n Node, acts []Action) string {
	s := fmt.Sprintf("%s -> %s epoch=%d", prev.State, n.State, n.Epoch)
	if n.SwitchID != "" {
		s += " switch=" + n.SwitchID
	}
	if n.FenceLSN != "" {
		s += " fence=" + n.FenceLSN
	}
	if n.ReverseLSN != "" {
		s += " reverse=" + n.ReverseLSN
	}
	if len(n.Refused) > 0 {
		s += " refused=" + strings.Join(n.Refused, ",")
	}
	if n.Reason != "" {
		s += fmt.Sprintf(" reason=%q", n.Reason)
	}
	if n.PromotedBy != "" {
		s += " promoted=" + n.PromotedBy
	}
	if n.PromotedLSN != "" {
		s += " promoted_lsn=" + n.PromotedLSN
	}
	as := make([]string, len(acts))
	for i, a := range acts {
		as[i] = string(a)
	}
	return s + "\nactions: " + strings.Join(as, " ")
}

func parseNode(line string) (Node, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return Node{}, fmt.Errorf("a node line names a state")
	}
	n := Node{State: State(f[1])}
	if !n.State.Valid() {
		return n, fmt.Errorf("unknown state %q", f[1])
	}
	for _, kv := range f[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return n, fmt.Errorf("%q is not key=value", kv)
		}
		switch k {
		case "epoch":
			e, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return n, fmt.Errorf("epoch: %w", err)
			}
			n.Epoch = e
		case "switch":
			n.SwitchID = v
		case "refused":
			n.Refused = strings.Split(v, ",")
		case "reverse":
			n.ReverseLSN = v
		case "promoted":
			n.PromotedBy = v
		case "promoted_lsn":
			n.PromotedLSN = v
		default:
			return n, fmt.Errorf("unknown node field %q", k)
		}
	}
	return n, nil
}

func parseEvent(s string) (Event, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return Event{}, fmt.Errorf("an event line names an event")
	}
	e := Event{Kind: EventKind(f[0])}
	known := e.Kind == EvRestart || slices.ContainsFunc(table, func(tr transition) bool { return tr.on == e.Kind })
	if !known {
		return e, fmt.Errorf("unknown event %q", f[0])
	}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return e, fmt.Errorf("%q is not key=value", kv)
		}
		switch k {
		case "switch":
			e.SwitchID = v
		case "epoch":
			x, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return e, fmt.Errorf("epoch: %w", err)
			}
			e.Epoch = x
		case "fence":
			e.FenceLSN = v
		case "reverse":
			e.ReverseLSN = v
		case "reason":
			e.Reason = strings.Trim(v, `"`)
		case "unproven":
			e.Unproven = strings.Trim(v, `"`)
		case "quorum":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return e, fmt.Errorf("quorum: %w", err)
			}
			e.Quorum = b
		default:
			return e, fmt.Errorf("unknown event field %q", k)
		}
	}
	return e, nil
}

func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, a, c)
		}
	}
	return b.String()
}

// The parser refuses what it cannot read instead of dropping it.
func TestReplayRefusesWhatItCannotRead(t *testing.T) {
	ok := "node ACTIVE epoch=1\n> promote switch=s1\nACTIVE -> REQUESTING_SWITCH epoch=1 switch=s1\nactions: fence\n"
	if _, err := replay(ok); err != nil {
		t.Fatalf("a well-formed transcript: %v", err)
	}
	for name, in := range map[string]string{
		"unknown state":          "node ACTVE epoch=1\n",
		"bad epoch":              "node ACTIVE epoch=one\n",
		"unknown node field":     "node ACTIVE epoc=1\n",
		"unknown event":          "node ACTIVE epoch=1\n> promot switch=s1\n",
		"unknown event field":    "node ACTIVE epoch=1\n> promote swich=s1\n",
		"bad event epoch":        "node ACTIVE epoch=1\n> peer_active epoch=x\n",
		"event before node":      "> promote switch=s1\n",
		"stray line":             "node ACTIVE epoch=1\nACTIVE is the start\n",
		"mistyped expectation":   "node ACTIVE epoch=1\n> promote switch=s1\nACTIVE => REQUESTING_SWITCH epoch=1\nactions: fence\n",
		"mistyped actions":       "node ACTIVE epoch=1\n> promote switch=s1\nACTIVE -> REQUESTING_SWITCH epoch=1\naction: fence\n",
		"a third output line":    ok + "actions: fence\n",
		"output after a comment": "node ACTIVE epoch=1\n# c\nactions: fence\n",
	} {
		if _, err := replay(in); err == nil {
			t.Errorf("%s: replay accepted %q", name, in)
		}
	}
}
