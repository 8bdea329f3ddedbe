package config_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/config"
)

func TestParseLevel(t *testing.T) {
	for s, want := range map[string]zerolog.Level{
		"debug": zerolog.DebugLevel, "info": zerolog.InfoLevel, "warn": zerolog.WarnLevel, "error": zerolog.ErrorLevel,
	} {
		got, err := config.ParseLevel(s)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "trace", "warning", "Info", "fatal"} {
		if _, err := config.ParseLevel(s); err == nil {
			t.Errorf("ParseLevel(%q) accepted", s)
		}
	}
}

func TestLogger(t *testing.T) {
	c := loadOK(t, minimal, "PGSWITCH_LOG_LEVEL=warn")
	var buf bytes.Buffer
	log := c.Logger(&buf)
	log.Info().Msg("quiet")
	log.Warn().Msg("loud")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("at level warn, got %d lines:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("json format: %v: %s", err, lines[0])
	}
	if rec["node"] != "db-1" || rec["message"] != "loud" || rec["level"] != "warn" || rec["time"] == nil {
		t.Errorf("record %v: want node db-1, message loud, level warn and a time", rec)
	}

	c = loadOK(t, minimal, "PGSWITCH_LOG_FORMAT=console", "PGSWITCH_LOG_LEVEL=debug")
	buf.Reset()
	log = c.Logger(&buf)
	log.Debug().Msg("hello console")
	out := buf.String()
	if strings.HasPrefix(out, "{") || !strings.Contains(out, "hello console") || !strings.Contains(out, "db-1") {
		t.Errorf("console format output %q", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("console output to a buffer has colour codes: %q", out)
	}

	// A Config that was not validated still gets a usable logger.
	buf.Reset()
	log = (&config.Config{}).Logger(&buf)
	log.Debug().Msg("hidden")
	log.Info().Msg("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
		t.Errorf("logger of an empty Config (level info, json): %q", out)
	}
}
