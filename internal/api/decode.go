package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxMessageBytes bounds a handshake message or request body.
const MaxMessageBytes = 1 << 20

// Decode reads exactly one JSON value into v: unknown fields, trailing data
// and oversized bodies are errors. Every /v1 handler decodes with it.
func Decode(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, MaxMessageBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed message: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("malformed message: data after the JSON value")
	}
	return nil
}
