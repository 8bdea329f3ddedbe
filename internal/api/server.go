package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"
)

// Backend is what the daemon exposes to the HTTP interface.
type Backend interface {
	// Health is nil while the daemon runs and reaches its local database.
	Health(ctx context.Context) error
	// IsPrimary: ACTIVE and the database is writable.
	IsPrimary(ctx context.Context) bool
	// IsStandby: STANDBY, applier streaming, lag within max_lag_bytes.
	IsStandby(ctx context.Context) bool
	Status(ctx context.Context) Status
}

// Server serves the API on one listener.
type Server struct {
	backend Backend
	sec     *Security
	mux     *http.ServeMux
	log     zerolog.Logger
}

// NewServer builds the routes; metrics may be nil.
func NewServer(b Backend, sec *Security, metrics http.Handler, log zerolog.Logger) *Server {
	s := &Server{backend: b, sec: sec, mux: http.NewServeMux(), log: log.With().Str("component", "api").Logger()}
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /primary", s.probe(b.IsPrimary, "primary"))
	s.mux.HandleFunc("GET /standby", s.probe(b.IsStandby, "standby"))
	if metrics != nil {
		s.mux.Handle("GET /metrics", metrics)
	}
	s.Handle("GET "+PathStatus, http.HandlerFunc(s.status))
	// Go's profiles, for an operator chasing a leak (authenticated).
	s.Handle("GET /v1/debug/pprof/", http.StripPrefix("/v1", http.HandlerFunc(pprof.Index)))
	return s
}

// Handle registers an authenticated route under /v1/.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.sec.require(h))
}

// Handler is the whole API, for tests.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve answers on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		TLSConfig:         s.sec.ServerTLS,
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() {
		if s.sec.ServerTLS != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shut)
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.backend.Health(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) probe(f func(context.Context) bool, role string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if f(ctx) {
			writeJSON(w, http.StatusOK, map[string]string{"role": role})
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"role": "not " + role})
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	writeJSON(w, http.StatusOK, s.backend.Status(ctx))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteJSON is writeJSON for handlers registered from other packages.
func WriteJSON(w http.ResponseWriter, code int, v any) { writeJSON(w, code, v) }
