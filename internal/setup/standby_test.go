package setup

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/replication"
)

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{10*1024 - 1, "10.0 KiB"},
		// Just below a unit the value rounds up within the smaller one.
		{1<<20 - 1, "1024.0 KiB"},
		{1 << 20, "1.0 MiB"},
		{5*(1<<20) + (1 << 19), "5.5 MiB"},
		{1<<30 - 1, "1024.0 MiB"},
		{1 << 30, "1.0 GiB"},
		{1 << 40, "1.0 TiB"},
		{1 << 50, "1.0 PiB"},
		{1 << 60, "1.0 EiB"},
		{math.MaxInt64, "8.0 EiB"},
		{-5, "-5 B"},
	} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func report(table string, done bool) replication.CopyProgress {
	return replication.CopyProgress{
		Table: table, Index: 2, Total: 3, Rows: 1000, Bytes: 2048,
		TotalRows: 5000, TotalBytes: 3 << 20, TableDone: done, Elapsed: 61700 * time.Millisecond,
	}
}

const line = "copying public.orders (table 2 of 3): 1000 rows, 2.0 KiB; total 5000 rows, 3.0 MiB in 1m2s"

func TestProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(Options{Out: &out, Terminal: true, Log: zerolog.Nop()})
	p.report(report("public.orders", false))
	p.report(report("public.orders", false))
	p.report(report("public.orders", true))
	// Every report redraws the line in place; a finished table ends it.
	want := strings.Repeat("\r\033[K"+line, 3) + "\n"
	if out.String() != want {
		t.Errorf("terminal output\n%q\nwant\n%q", out.String(), want)
	}
}

func TestProgressPlain(t *testing.T) {
	var out, log bytes.Buffer
	p := newProgress(Options{Out: &out, Log: zerolog.New(&log)})

	p.report(report("public.orders", false)) // the first is printed
	p.report(report("public.orders", false)) // within 5 s: not printed
	if got := strings.Count(out.String(), "\n"); got != 1 {
		t.Fatalf("after two quick reports, %d lines:\n%s", got, out.String())
	}
	p.report(report("public.orders", true)) // a finished table always is
	p.mu.Lock()
	p.last = time.Now().Add(-5 * time.Second) // as if 5 s had passed
	p.mu.Unlock()
	p.report(report("public.orders", false))
	if want := strings.Repeat(line+"\n", 3); out.String() != want {
		t.Errorf("plain output\n%q\nwant\n%q", out.String(), want)
	}
	if strings.Contains(out.String(), "\r") || strings.Contains(out.String(), "\033") {
		t.Errorf("plain output has terminal controls: %q", out.String())
	}

	// The log has all four, with the numbers as fields.
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4:\n%s", len(lines), log.String())
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &ev); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"message": "copy progress", "table": "public.orders", "table_n": 2.0, "tables": 3.0,
		"rows": 1000.0, "bytes": 2048.0, "total_rows": 5000.0, "total_bytes": float64(3 << 20), "done": true} {
		if ev[k] != v {
			t.Errorf("log field %s = %v, want %v", k, ev[k], v)
		}
	}
}
