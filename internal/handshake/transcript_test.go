package handshake

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
			got := replay(t, string(in))
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
// Lines that are neither commands, comments nor blank are outputs of the
// previous event: they are dropped and generated anew.
func replay(t *testing.T, in string) string {
	var out strings.Builder
	var n Node
	sc := bufio.NewScanner(strings.NewReader(in))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "node "):
			n = parseNode(t, line)
			out.WriteString(line + "\n")
		case strings.HasPrefix(line, "> "):
			e := parseEvent(t, line[2:])
			next, acts, err := Step(n, e)
			out.WriteString(line + "\n")
			if err != nil {
				fmt.Fprintf(&out, "rejected: %v\n", err)
			} else {
				fmt.Fprintf(&out, "%s\n", render(n, next, acts))
				n = next
			}
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

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
	as := make([]string, len(acts))
	for i, a := range acts {
		as[i] = string(a)
	}
	return s + "\nactions: " + strings.Join(as, " ")
}

func parseNode(t *testing.T, line string) Node {
	f := strings.Fields(line)
	n := Node{State: State(f[1])}
	for _, kv := range f[2:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "epoch":
			e, _ := strconv.ParseUint(v, 10, 64)
			n.Epoch = e
		case "switch":
			n.SwitchID = v
		case "refused":
			n.Refused = strings.Split(v, ",")
		default:
			t.Fatalf("unknown node field %q", k)
		}
	}
	return n
}

func parseEvent(t *testing.T, s string) Event {
	f := strings.Fields(s)
	e := Event{Kind: EventKind(f[0])}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "switch":
			e.SwitchID = v
		case "epoch":
			x, _ := strconv.ParseUint(v, 10, 64)
			e.Epoch = x
		case "fence":
			e.FenceLSN = v
		case "reverse":
			e.ReverseLSN = v
		case "reason":
			e.Reason = strings.Trim(v, `"`)
		default:
			t.Fatalf("unknown event field %q", k)
		}
	}
	return e
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
