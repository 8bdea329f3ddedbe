package config

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ParseLevel reads a log level: debug, info, warn or error (for log.level,
// also when it is read again on SIGHUP).
func ParseLevel(s string) (zerolog.Level, error) {
	switch s {
	case "debug":
		return zerolog.DebugLevel, nil
	case "info":
		return zerolog.InfoLevel, nil
	case "warn":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("unknown log level %q: want debug, info, warn or error", s)
}

// Logger builds the logger log.* describes: JSON lines to w, or
// zerolog.ConsoleWriter to w (in colour when w is a terminal), at
// log.level (info if it is invalid), with a timestamp and the field "node"
// set to node.name on every line.
func (c *Config) Logger(w io.Writer) zerolog.Logger {
	if c.Log.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339Nano, NoColor: !isTerminal(w)}
	}
	level, err := ParseLevel(c.Log.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("node", c.Node.Name).Logger()
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// LevelVar is a log level that can change while loggers built on it are in
// use (SIGHUP reloads log.level).
type LevelVar struct{ v atomic.Int32 }

// Set changes the level.
func (l *LevelVar) Set(level zerolog.Level) { l.v.Store(int32(level)) }

// Level is the current level.
func (l *LevelVar) Level() zerolog.Level { return zerolog.Level(l.v.Load()) }

// Run is a zerolog hook that discards events below the level.
func (l *LevelVar) Run(e *zerolog.Event, level zerolog.Level, _ string) {
	if level < l.Level() && level != zerolog.NoLevel {
		e.Discard()
	}
}

// ReloadableLogger is Logger whose level follows the returned LevelVar.
func (c *Config) ReloadableLogger(w io.Writer) (zerolog.Logger, *LevelVar) {
	lv := &LevelVar{}
	level, err := ParseLevel(c.Log.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	lv.Set(level)
	l := c.Logger(w).Level(zerolog.TraceLevel).Hook(lv)
	return l, lv
}
