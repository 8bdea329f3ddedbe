package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestReloadableLogger(t *testing.T) {
	var buf bytes.Buffer
	c := &Config{Node: NodeConfig{Name: "n"}, Log: LogConfig{Level: "info", Format: "json"}}
	l, lv := c.ReloadableLogger(&buf)
	l.Debug().Msg("hidden")
	l.Info().Msg("shown")
	lv.Set(zerolog.DebugLevel)
	child := l.With().Str("x", "y").Logger()
	child.Debug().Msg("now shown")
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, "shown") || !strings.Contains(out, "now shown") {
		t.Fatalf("level filter wrong:\n%s", out)
	}
}
