package config

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// mask replaces a password.
const mask = "xxxxx"

// RedactDSN masks the passwords in a connection string, in either form:
// password (and sslpassword) in keyword=value strings, and the userinfo
// password and password query parameters of postgres:// URLs. It follows
// pgconn's parsing, and where a malformed string is ambiguous it masks more
// rather than less. Use it wherever a DSN could reach a log line or error.
func RedactDSN(dsn string) string {
	out, _ := redact(dsn)
	return out
}

// redact returns dsn with its passwords masked, and the passwords (as
// written and as decoded).
func redact(dsn string) (string, []string) {
	if urlSchemeRE.MatchString(strings.TrimLeft(dsn, " \t\n\r\v\f")) {
		return redactURL(dsn)
	}
	return redactKeywords(dsn)
}

var urlSchemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// isSpace is pgconn's (and libpq's) white space in keyword=value strings.
func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// isSecretKey says whether a keyword or query parameter holds a password.
func isSecretKey(k string) bool { return strings.Contains(strings.ToLower(k), "password") }

// redactKeywords masks a keyword=value connection string. Values are read
// as pgconn reads them: quoted with ' and \ escapes, or up to white space
// with \ escapes. A word that is not keyword=value right after a password
// is taken as the rest of a password that should have been quoted.
func redactKeywords(s string) (string, []string) {
	var b strings.Builder
	var secrets []string
	afterSecret := false
	i := 0
	for i < len(s) {
		j := i
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		b.WriteString(s[i:j])
		if i = j; i == len(s) {
			break
		}
		for j < len(s) && !isSpace(s[j]) && s[j] != '=' {
			j++
		}
		word := s[i:j]
		eq := j
		for eq < len(s) && isSpace(s[eq]) {
			eq++
		}
		if eq == len(s) || s[eq] != '=' {
			// A stray word (pgconn rejects the string).
			switch {
			case afterSecret:
				b.WriteString(mask)
				secrets = append(secrets, word)
			default:
				out, sec := redactWord(word)
				b.WriteString(out)
				secrets = append(secrets, sec...)
			}
			i = j
			continue
		}
		eq++
		for eq < len(s) && isSpace(s[eq]) {
			eq++
		}
		b.WriteString(s[i:eq])
		end := valueEnd(s, eq)
		val := s[eq:end]
		if afterSecret = isSecretKey(word); afterSecret {
			b.WriteString(mask)
			secrets = append(secrets, val, unescapeValue(val))
		} else {
			out, sec := redactWord(val)
			b.WriteString(out)
			secrets = append(secrets, sec...)
		}
		i = end
	}
	return b.String(), secrets
}

// redactWord masks a URL with a password inside a keyword=value string.
func redactWord(w string) (string, []string) {
	if i := strings.Index(w, "://"); i > 0 && strings.Contains(w[i:], "@") {
		return redactURL(w)
	}
	return w, nil
}

// valueEnd is where the value starting at s[i] ends: after its closing
// quote (or at the end, when unterminated), or at white space.
func valueEnd(s string, i int) int {
	if i < len(s) && s[i] == '\'' {
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '\'':
				return j + 1
			}
		}
		return len(s)
	}
	j := i
	for ; j < len(s) && !isSpace(s[j]); j++ {
		if s[j] == '\\' {
			j++
		}
	}
	return min(j, len(s))
}

// unescapeValue is a keyword value without its quotes and escapes.
func unescapeValue(v string) string {
	v = strings.TrimPrefix(v, "'")
	v = strings.TrimSuffix(v, "'")
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// redactURL masks a URL connection string: the password of the userinfo
// and every query parameter whose name contains "password".
func redactURL(s string) (string, []string) {
	start := strings.Index(s, "://") + 3
	head, rest := s[:start], s[start:]
	var secrets []string

	// The userinfo ends at the last '@' of the authority. A malformed URL
	// (a password with an unescaped '/', '?' or '#') is ambiguous: then it
	// ends at the last '@' of all.
	authority := rest
	if _, err := url.Parse(s); err == nil {
		if k := strings.IndexAny(rest, "/?#"); k >= 0 {
			authority = rest[:k]
		}
	}
	var b strings.Builder
	b.WriteString(head)
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo := rest[:at]
		if colon := strings.IndexByte(userinfo, ':'); colon >= 0 {
			pw := userinfo[colon+1:]
			b.WriteString(userinfo[:colon+1] + mask)
			secrets = append(secrets, pw)
			if dec, err := url.PathUnescape(pw); err == nil {
				secrets = append(secrets, dec)
			}
		} else {
			b.WriteString(userinfo)
		}
		rest = rest[at:]
	}

	q := strings.IndexByte(rest, '?')
	if q < 0 {
		b.WriteString(rest)
		return b.String(), secrets
	}
	b.WriteString(rest[:q+1])
	query, fragment, hasFragment := strings.Cut(rest[q+1:], "#")
	for n, param := range strings.Split(query, "&") {
		if n > 0 {
			b.WriteByte('&')
		}
		name, val, ok := strings.Cut(param, "=")
		if dec, err := url.QueryUnescape(name); err == nil {
			name = dec
		}
		if !ok || !isSecretKey(name) {
			b.WriteString(param)
			continue
		}
		b.WriteString(param[:len(param)-len(val)] + mask)
		secrets = append(secrets, val)
		if dec, err := url.QueryUnescape(val); err == nil {
			secrets = append(secrets, dec)
		}
	}
	if hasFragment {
		b.WriteString("#" + fragment)
	}
	return b.String(), secrets
}

// checkDSN checks that a connection string is given and that pgconn parses
// it. The problem shows the string and pgconn's reason with passwords
// masked: a reason that could carry one is left out.
func checkDSN(ps *problems, key, dsn string) {
	if strings.TrimSpace(dsn) == "" {
		ps.add(key, "must be set: a connection string like \"host=/var/run/postgresql dbname=app user=pgswitch\"")
		return
	}
	_, err := pgconn.ParseConfig(dsn)
	if err == nil {
		return
	}
	redacted, secrets := redact(dsn)
	msg := strconv.Quote(redacted) + " is not a valid connection string"
	if reason := parseReason(err); reason != "" && !containsAny(reason, secrets) && !strings.Contains(reason, dsn) {
		msg += ": " + reason
	}
	ps.add(key, "%s", msg)
}

var quotedRE = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")

// parseReason is pgconn's reason for rejecting a connection string, without
// the string itself and with every quoted value (which could be a piece of
// a password) replaced by "…".
func parseReason(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return ""
	}
	text := pe.Error()
	inner := errors.Unwrap(pe)
	if inner != nil {
		text = strings.TrimSuffix(text, " ("+inner.Error()+")")
	}
	k := strings.LastIndex(text, "`: ")
	if k < 0 || !strings.HasPrefix(text, "cannot parse `") {
		return ""
	}
	text = text[k+3:]
	if inner != nil {
		text += ": " + inner.Error()
	}
	text = quotedRE.ReplaceAllString(text, `"…"`)
	if k := strings.Index(text, " value: "); k >= 0 {
		text = text[:k] + " value"
	}
	return text
}

// containsAny says whether s contains any of the non-empty subs.
func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
