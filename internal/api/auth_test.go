package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
)

const testToken = "0123456789abcdef-token"

// writeFile writes data with exactly mode (whatever the umask).
func writeFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadToken(t *testing.T) {
	cases := []struct {
		name    string
		mode    os.FileMode
		content string
		want    string // the token; "" when an error is expected
		exposed bool   // the error wraps ErrTokenExposed
	}{
		{"0600", 0o600, testToken, testToken, false},
		{"0400", 0o400, testToken, testToken, false},
		{"trailing newline trimmed", 0o600, testToken + "\n", testToken, false},
		{"surrounding whitespace trimmed", 0o600, " \t" + testToken + " \r\n\n", testToken, false},
		{"exactly 16 characters", 0o600, "0123456789abcdef", "0123456789abcdef", false},
		{"0644", 0o644, testToken, "", true},
		{"0640", 0o640, testToken, "", true},
		{"0604", 0o604, testToken, "", true},
		{"0660 group writable", 0o660, testToken, "", true},
		{"0444", 0o444, testToken, "", true},
		{"15 characters", 0o600, "0123456789abcde", "", false},
		{"15 characters after trimming", 0o600, "   0123456789abcde   \n", "", false},
		{"empty", 0o600, "", "", false},
		{"only whitespace", 0o600, strings.Repeat(" ", 20) + "\n", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "token", []byte(tc.content), tc.mode)
			tok, err := api.ReadToken(path)
			if tc.want != "" {
				if err != nil {
					t.Fatalf("ReadToken: %v", err)
				}
				if string(tok) != tc.want {
					t.Fatalf("token %q, want %q", tok, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadToken accepted the file: token %q", tok)
			}
			if tok != nil {
				t.Errorf("token %q returned with the error", tok)
			}
			if got := errors.Is(err, api.ErrTokenExposed); got != tc.exposed {
				t.Errorf("errors.Is(%v, ErrTokenExposed) = %v, want %v", err, got, tc.exposed)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
			if tc.exposed && !strings.Contains(err.Error(), fmt.Sprintf("%04o", tc.mode)) {
				t.Errorf("error %q does not show the mode %04o", err, tc.mode)
			}
		})
	}
}

func TestReadTokenMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-token")
	tok, err := api.ReadToken(path)
	if err == nil {
		t.Fatalf("ReadToken of a missing file: token %q", tok)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
	if errors.Is(err, api.ErrTokenExposed) {
		t.Errorf("error %v claims the file is exposed", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestAuthenticatedToken(t *testing.T) {
	sec := &api.Security{Token: []byte(testToken)}
	cases := []struct {
		name   string
		header []string // Authorization values; none when empty
		want   bool
	}{
		{"correct token", []string{"Bearer " + testToken}, true},
		{"no header", nil, false},
		{"empty header", []string{""}, false},
		{"wrong token", []string{"Bearer fedcba9876543210-token"}, false},
		{"token of other length", []string{"Bearer abc"}, false},
		{"empty token", []string{"Bearer "}, false},
		{"scheme only", []string{"Bearer"}, false},
		{"token without scheme", []string{testToken}, false},
		{"Basic scheme with the token", []string{"Basic " + testToken}, false},
		{"Basic credentials", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("pgswitch:"+testToken))}, false},
		{"token with a prefix", []string{"Bearer x" + testToken}, false},
		{"token with a suffix", []string{"Bearer " + testToken + "x"}, false},
		{"token with a trailing space", []string{"Bearer " + testToken + " "}, false},
		{"two spaces after the scheme", []string{"Bearer  " + testToken}, false},
		{"truncated token", []string{"Bearer " + testToken[:len(testToken)-1]}, false},
		{"token as a prefix of the header", []string{"Bearer " + testToken + ", Bearer other"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/status", nil)
			for _, h := range tc.header {
				r.Header.Add("Authorization", h)
			}
			if got := sec.Authenticated(r); got != tc.want {
				t.Errorf("Authenticated with %q = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

// TestAuthenticatedWithoutToken: mTLS-only security never accepts a bearer
// header, not even an empty one.
func TestAuthenticatedWithoutToken(t *testing.T) {
	for _, sec := range []*api.Security{{}, {Token: []byte{}}, {ServerTLS: &tls.Config{}}} {
		for _, h := range []string{"", "Bearer ", "Bearer", "Bearer x"} {
			r := httptest.NewRequest(http.MethodGet, "/v1/status", nil)
			if h != "" {
				r.Header.Set("Authorization", h)
			}
			if sec.Authenticated(r) {
				t.Errorf("security %+v accepts Authorization %q", sec, h)
			}
		}
	}
}

func TestAuthenticatedCertificate(t *testing.T) {
	chain := [][]*x509.Certificate{{{Subject: pkix.Name{CommonName: "db-2"}}}}
	cases := []struct {
		name string
		sec  *api.Security
		tls  *tls.ConnectionState
		want bool
	}{
		{"verified chain with mTLS configured", &api.Security{ServerTLS: &tls.Config{}}, &tls.ConnectionState{VerifiedChains: chain}, true},
		{"TLS without a client certificate", &api.Security{ServerTLS: &tls.Config{}}, &tls.ConnectionState{}, false},
		{"certificate presented but not verified", &api.Security{ServerTLS: &tls.Config{}},
			&tls.ConnectionState{PeerCertificates: chain[0]}, false},
		{"verified chain but mTLS not configured", &api.Security{Token: []byte(testToken)}, &tls.ConnectionState{VerifiedChains: chain}, false},
		{"plain HTTP with mTLS configured", &api.Security{ServerTLS: &tls.Config{}}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/status", nil)
			r.TLS = tc.tls
			if got := tc.sec.Authenticated(r); got != tc.want {
				t.Errorf("Authenticated = %v, want %v", got, tc.want)
			}
		})
	}
}

// ca is a certificate authority made for a test.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a certificate for cn signed by the CA; a server certificate
// is valid for localhost and may also be used as a client certificate (as a
// node's is).
func (c *ca) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// tlsFiles writes a node's certificate, key and CA into dir.
type tlsFiles struct{ cert, key, ca string }

func writeTLS(t *testing.T, dir string, authority *ca, cn string) tlsFiles {
	t.Helper()
	certPEM, keyPEM := authority.issue(t, cn, true)
	return tlsFiles{
		cert: writeFile(t, dir, cn+".crt", certPEM, 0o644),
		key:  writeFile(t, dir, cn+".key", keyPEM, 0o600),
		ca:   writeFile(t, dir, "ca.crt", authority.pem, 0o644),
	}
}

func TestLoadSecurityTokenOnly(t *testing.T) {
	dir := t.TempDir()
	tok := writeFile(t, dir, "token", []byte(testToken+"\n"), 0o600)
	sec, err := api.LoadSecurity(tok, "", "", "")
	if err != nil {
		t.Fatalf("LoadSecurity: %v", err)
	}
	if string(sec.Token) != testToken {
		t.Errorf("token %q, want %q", sec.Token, testToken)
	}
	if sec.ServerTLS != nil || sec.ClientTLS != nil {
		t.Errorf("TLS configured without TLS files: %+v", sec)
	}
}

func TestLoadSecurityTLS(t *testing.T) {
	dir := t.TempDir()
	f := writeTLS(t, dir, newCA(t, "pgswitch test CA"), "db-1")
	sec, err := api.LoadSecurity("", f.cert, f.key, f.ca)
	if err != nil {
		t.Fatalf("LoadSecurity: %v", err)
	}
	if sec.Token != nil {
		t.Errorf("token %q without a token file", sec.Token)
	}
	s := sec.ServerTLS
	if s == nil {
		t.Fatal("no server TLS")
	}
	if s.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("server ClientAuth = %v, want VerifyClientCertIfGiven (probes come without a certificate)", s.ClientAuth)
	}
	if s.ClientCAs == nil || len(s.Certificates) != 1 || s.MinVersion < tls.VersionTLS12 {
		t.Errorf("server TLS: ClientCAs %v, %d certificates, MinVersion %x", s.ClientCAs != nil, len(s.Certificates), s.MinVersion)
	}
	c := sec.ClientTLS
	if c == nil || c.RootCAs == nil || len(c.Certificates) != 1 || c.MinVersion < tls.VersionTLS12 || c.InsecureSkipVerify {
		t.Errorf("client TLS %+v: want the CA as roots, the node's certificate, TLS 1.2+ and verification", c)
	}
}

func TestLoadSecurityErrors(t *testing.T) {
	dir := t.TempDir()
	authority := newCA(t, "CA")
	f := writeTLS(t, dir, authority, "db-1")
	other := writeTLS(t, t.TempDir(), authority, "db-2")
	exposed := writeFile(t, dir, "token-exposed", []byte(testToken), 0o644)
	notPEM := writeFile(t, dir, "not-pem.crt", []byte("not a certificate\n"), 0o644)
	missing := filepath.Join(dir, "missing")

	cases := []struct {
		name                string
		token, cert, key, c string
		mention             string
		exposed             bool
	}{
		{"exposed token", exposed, "", "", "", "token_file", true},
		{"missing token", missing, "", "", "", "token_file", false},
		{"missing certificate", "", missing, f.key, f.ca, "tls_cert", false},
		{"missing key", "", f.cert, missing, f.ca, "tls_key", false},
		{"key of another certificate", "", f.cert, other.key, f.ca, "tls_key", false},
		{"certificate file not PEM", "", notPEM, f.key, f.ca, "tls_cert", false},
		{"missing CA", "", f.cert, f.key, missing, "tls_ca", false},
		{"CA file not PEM", "", f.cert, f.key, notPEM, "tls_ca", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := api.LoadSecurity(tc.token, tc.cert, tc.key, tc.c)
			if err == nil {
				t.Fatalf("LoadSecurity accepted: %+v", sec)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %s", err, tc.mention)
			}
			if got := errors.Is(err, api.ErrTokenExposed); got != tc.exposed {
				t.Errorf("errors.Is(ErrTokenExposed) = %v, want %v", got, tc.exposed)
			}
		})
	}
}
