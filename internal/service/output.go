package service

import (
	"bytes"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// Limits on the output kept.
const (
	keepOutput = 4 << 10 // bytes of output kept for Error.Output
	maxLine    = 4 << 10 // a longer line is logged in pieces
)

// output logs a command's output line by line and keeps its tail. Its
// streams are written by exec's copying goroutines, one per stream.
type output struct {
	log zerolog.Logger

	mu   sync.Mutex
	last []byte // the tail: at least the last keepOutput bytes
	open []*stream
}

func newOutput(log zerolog.Logger) *output { return &output{log: log} }

// stream is one of the command's outputs (an io.Writer).
type stream struct {
	o       *output
	name    string
	partial []byte // a line not yet ended
}

func (o *output) stream(name string) *stream {
	s := &stream{o: o, name: name}
	o.open = append(o.open, s)
	return s
}

// Write logs every complete line of p and keeps the rest for the next.
func (s *stream) Write(p []byte) (int, error) {
	n := len(p)
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.o.line(s.name, s.partial[:i])
		s.partial = s.partial[i+1:]
	}
	for len(s.partial) >= maxLine {
		s.o.line(s.name, s.partial[:maxLine])
		s.partial = s.partial[maxLine:]
	}
	s.partial = append([]byte(nil), s.partial...) // do not pin a large p
	return n, nil
}

// flush logs what is left of lines that did not end; call it once the
// command is done.
func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.open {
		if len(s.partial) > 0 {
			o.line(s.name, s.partial)
			s.partial = nil
		}
	}
}

// line logs one line and adds it to the tail. o.mu is held.
func (o *output) line(stream string, b []byte) {
	text := strings.ToValidUTF8(strings.TrimSuffix(string(b), "\r"), string(utf8.RuneError))
	o.log.Info().Str("stream", stream).Str("line", text).Msg("service output")
	o.last = append(o.last, text...)
	o.last = append(o.last, '\n')
	if len(o.last) > 2*keepOutput { // trimmed now and then, not on every line
		o.last = append(o.last[:0], o.last[len(o.last)-keepOutput:]...)
	}
}

// tail is the last keepOutput bytes of output, not starting in the middle
// of a character.
func (o *output) tail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.last
	if len(t) > keepOutput {
		t = t[len(t)-keepOutput:]
	}
	for len(t) > 0 && !utf8.RuneStart(t[0]) {
		t = t[1:]
	}
	return string(t)
}
