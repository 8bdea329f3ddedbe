package config_test

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgswitch/pgswitch/internal/config"
)

func TestRedactDSN(t *testing.T) {
	cases := []struct {
		dsn    string
		want   string
		secret string
	}{
		// keyword=value
		{"host=h password=secret dbname=app", "host=h password=xxxxx dbname=app", "secret"},
		{"host=h password='se cret' dbname=app", "host=h password=xxxxx dbname=app", "cret"},
		{`host=h password='it\'s secret' user=u`, "host=h password=xxxxx user=u", "secret"},
		{`host=h password=se\ cret user=u`, "host=h password=xxxxx user=u", "cret"},
		{"host=h password = secret", "host=h password = xxxxx", "secret"},
		{"host=h PASSWORD=secret", "host=h PASSWORD=xxxxx", "secret"},
		{"password=secret", "password=xxxxx", "secret"},
		{"host=h sslpassword=secret", "host=h sslpassword=xxxxx", "secret"},
		{"host=h password='unterminated secret", "host=h password=xxxxx", "secret"},
		{"host=h password=se cret dbname=x", "host=h password=xxxxx xxxxx dbname=x", "cret"}, // forgot the quotes
		{"host=h password= dbname=x", "host=h password= xxxxx", "dbname=x"},                  // pgconn reads dbname=x as the password
		{"\thost=h\npassword=secret\t", "\thost=h\npassword=xxxxx\t", "secret"},
		{"host=h options=postgres://u:secret@x", "host=h options=postgres://u:xxxxx@x", "secret"},
		// URL
		{"postgres://u:secret@h/db", "postgres://u:xxxxx@h/db", "secret"},
		{"postgresql://u:secret@h:5432/db?sslmode=require", "postgresql://u:xxxxx@h:5432/db?sslmode=require", "secret"},
		{"postgres://h/db?password=secret", "postgres://h/db?password=xxxxx", "secret"},
		{"postgres://h/db?sslmode=disable&password=secret#frag", "postgres://h/db?sslmode=disable&password=xxxxx#frag", "secret"},
		{"postgres://h/db?pass%77ord=secret", "postgres://h/db?pass%77ord=xxxxx", "secret"},
		{"postgres://u:se%40cret@h/db", "postgres://u:xxxxx@h/db", "cret"},
		{"postgres://u:se@cret@h/db", "postgres://u:xxxxx@h/db", "cret"},
		{"postgres://u:se/cret@h/db", "postgres://u:xxxxx@h/db", "cret"},
		{"postgres://u:se?cret@h/db", "postgres://u:xxxxx@h/db", "cret"},
		{"postgres://u:se#cret@h/db", "postgres://u:xxxxx@h/db", "cret"},
		{"postgres://u:secret@h1:5432,h2:5433/db", "postgres://u:xxxxx@h1:5432,h2:5433/db", "secret"},
		{"  postgres://u:secret@h/db", "  postgres://u:xxxxx@h/db", "secret"},
		{"POSTGRES://u:secret@h/db", "POSTGRES://u:xxxxx@h/db", "secret"},
		// nothing to mask
		{"host=h user=u dbname=app", "host=h user=u dbname=app", ""},
		{"postgres://u@h/db", "postgres://u@h/db", ""},
		{"postgres://h:5432/db?application_name=a@b", "postgres://h:5432/db?application_name=a@b", ""},
		{"", "", ""},
	}
	for _, tc := range cases {
		got := config.RedactDSN(tc.dsn)
		if got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
		if tc.secret != "" && strings.Contains(got, tc.secret) {
			t.Errorf("RedactDSN(%q) = %q still shows %q", tc.dsn, got, tc.secret)
		}
	}
}

// TestInvalidDSNHidesPassword: the problem reported for a DSN that does not
// parse never carries the password, and still names the key.
func TestInvalidDSNHidesPassword(t *testing.T) {
	const secret = "s3cr3tpw"
	for _, dsn := range []string{
		"host=h port=notaport password=" + secret,
		"password='" + secret + " x' port=notaport",
		"password = " + secret + " port=notaport",
		"password=" + secret + " " + secret + " port=5432",
		"password='" + secret,
		"host=h password=" + secret + " sslmode=bogus",
		"host=h password=" + secret + " target_session_attrs=x",
		"host=h password=" + secret + "\\ x connect_timeout=x",
		"postgres://u:" + secret + "@h:notaport/db",
		"postgres://u@h:notaport/db?password=" + secret,
		"postgres://u:" + secret + "@h/db?port=notaport",
		"postgres://u:" + secret + "/x@h:x/db",
		"postgres://u:" + secret + "@h/db?sslmode=x",
		"postgres://u:%zz" + secret + "@h/db",
		"postgresql://u:" + secret + "@[::1/db",
		"postgresql://u:" + secret + "@h/db?connect_timeout=x&password=" + secret,
	} {
		t.Run(dsn, func(t *testing.T) {
			env := []string{"PGSWITCH_POSTGRES_DSN=" + dsn, "PGSWITCH_POSTGRES_PEER_DSN=" + dsn}
			keys, ps := loadFail(t, minimal, env...)
			if want := []string{"postgres.dsn", "postgres.peer_dsn"}; !slices.Equal(keys, want) {
				t.Fatalf("problems at %q, want %q", keys, want)
			}
			_, err := config.LoadBytes([]byte(minimal), env)
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "cr3t") {
				t.Errorf("error shows the password: %v", err)
			}
			for _, p := range ps {
				if strings.Contains(p.Error(), "cr3t") {
					t.Errorf("problem %s shows the password: %v", p.Key, p)
				}
			}
			t.Log(err)
		})
	}
}

// TestInvalidDSNReason: the problem says why pgconn rejects the string.
func TestInvalidDSNReason(t *testing.T) {
	_, ps := loadFail(t, minimal, "PGSWITCH_POSTGRES_DSN=host=h port=notaport password=pw")
	if msg := ps[0].Msg; !strings.Contains(msg, "invalid port") || !strings.Contains(msg, `"host=h port=notaport password=xxxxx"`) {
		t.Errorf("message %q: want the redacted string and the reason", msg)
	}
}

func TestRedacted(t *testing.T) {
	c := loadOK(t, minimal,
		"PGSWITCH_POSTGRES_DSN=host=h password=hunter2hunter2",
		"PGSWITCH_POSTGRES_PEER_DSN=postgres://u:hunter3hunter3@h/db")
	out := c.Redacted()
	for _, s := range []string{"hunter2", "hunter3"} {
		if strings.Contains(out, s) {
			t.Errorf("Redacted shows the password %s:\n%s", s, out)
		}
	}
	for _, s := range []string{
		"postgres:\n  dsn: \"host=h password=xxxxx\"\n  peer_dsn: \"postgres://u:xxxxx@h/db\"\n",
		"node:\n  name: \"db-1\"\n",
		"  garp_interval: 200ms\n",
		"  start: []\n",
		"  max_lag_bytes: 16777216\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("Redacted lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(c.Postgres.DSN, "hunter2") {
		t.Error("Redacted changed the configuration itself")
	}
}

// TestRedactedLoadsBack: without passwords, Redacted is a configuration file
// that loads into the same configuration.
func TestRedactedLoadsBack(t *testing.T) {
	c := loadOK(t, string(mustRead(t, "testdata/example.yaml")),
		`PGSWITCH_SERVICE_CHECK=["sh", "-c", "test \"$(cat /x)\" = 'ok\\n'", "ünï"]`,
		"PGSWITCH_POSTGRES_DSN=host=/tmp\tdbname='my db'\nuser=x",
		"PGSWITCH_SWITCHOVER_CATCHUP_TIMEOUT=1h2m3.5s")
	back, err := config.LoadBytes([]byte(c.Redacted()), nil)
	if err != nil {
		t.Fatalf("Redacted does not load: %v\n%s", err, c.Redacted())
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("loaded back\n%+v\nwant\n%+v", back, c)
	}
}

// FuzzRedactDSN: whatever the password, written in any of the forms pgconn
// reads (quoted, backslash-escaped, URL userinfo, URL query), RedactDSN
// shows neither it nor its written form.
func FuzzRedactDSN(f *testing.F) {
	for _, pw := range []string{"secret", "se cret", `it's`, `back\slash`, "p@ss/w?rd#", "'quoted'", "%41%42", "xx xx", "password=x"} {
		for form := range byte(4) {
			f.Add(pw, "host1", form)
		}
	}
	f.Fuzz(func(t *testing.T, pw, host string, form byte) {
		host = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, host)
		if host == "" || len(pw) < 4 || strings.ContainsRune(pw, 0) {
			return
		}
		var dsn, written string
		build := func(p string) string {
			switch form % 4 {
			case 0:
				written = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
				return "host=" + host + " password='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(p) + "' dbname=app"
			case 1:
				written = escapeWord(pw)
				return "host=" + host + " password=" + escapeWord(p) + " dbname=app"
			case 2:
				written = url.UserPassword("u", pw).String()[2:]
				return "postgres://" + url.UserPassword("u", p).String() + "@" + host + "/app"
			default:
				written = url.QueryEscape(pw)
				return "postgres://" + host + "/app?sslmode=disable&password=" + url.QueryEscape(p)
			}
		}
		skeleton := config.RedactDSN(build("xxxxx")) // what the output looks like
		dsn = build(pw)
		cfg, err := pgconn.ParseConfig(dsn)
		if err != nil || cfg.Password != pw {
			return // not a form pgconn reads this password from
		}
		out := config.RedactDSN(dsn)
		for _, secret := range []string{pw, written} {
			if len(secret) >= 4 && !strings.Contains(skeleton, secret) && strings.Contains(out, secret) {
				t.Fatalf("RedactDSN(%q) = %q shows %q", dsn, out, secret)
			}
		}
	})
}

// escapeWord writes s as an unquoted keyword value, with backslashes.
func escapeWord(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '\\' || r == '\'' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
