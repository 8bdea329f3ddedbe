package api

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Security is what authenticates the /v1 endpoints and the peer channel.
type Security struct {
	Token     []byte      // bearer token; nil when only mTLS is used
	ServerTLS *tls.Config // nil: plain HTTP
	ClientTLS *tls.Config // for calls to the peer and the local daemon
}

// ErrTokenExposed means the token file can be read by other users.
var ErrTokenExposed = errors.New("token file is readable by group or others")

// LoadSecurity reads the token file and the TLS material. The token file
// must exist, be non-empty and not be readable by group or others.
func LoadSecurity(tokenFile, certFile, keyFile, caFile string) (*Security, error) {
	s := &Security{}
	if tokenFile != "" {
		tok, err := ReadToken(tokenFile)
		if err != nil {
			return nil, err
		}
		s.Token = tok
	}
	if certFile == "" {
		return s, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("security.tls_cert/tls_key: %w", err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("security.tls_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("security.tls_ca: %s holds no PEM certificate", caFile)
	}
	s.ServerTLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		// Probes (/health, /primary, …) come without a certificate; /v1
		// accepts a verified one in place of the token.
		ClientAuth: tls.VerifyClientCertIfGiven,
	}
	s.ClientTLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
	}
	return s, nil
}

// ReadToken reads a bearer token file, refusing one others can read.
func ReadToken(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("security.token_file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("security.token_file %s has mode %04o: %w; run chmod 600 %s", path, fi.Mode().Perm(), ErrTokenExposed, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("security.token_file: %w", err)
	}
	tok := []byte(strings.TrimSpace(string(b)))
	if len(tok) < 16 {
		return nil, fmt.Errorf("security.token_file %s: token is shorter than 16 characters", path)
	}
	return tok, nil
}

// Authenticated reports whether the request carries the bearer token or a
// client certificate verified against security.tls_ca.
func (s *Security) Authenticated(r *http.Request) bool {
	if s.ServerTLS != nil && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	if len(s.Token) == 0 {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), s.Token) == 1
}

// require wraps h so that unauthenticated requests get 401 and reach
// nothing.
func (s *Security) require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Authenticated(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pgswitch"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "authentication required: bearer token or client certificate"})
			return
		}
		h.ServeHTTP(w, r)
	})
}
