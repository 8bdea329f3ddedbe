package integration

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
)

type cliCase struct {
	name     string
	node     int
	args     []string
	env      []string
	wantCode int
	wantOut  []string // substrings of stdout+stderr
}

func runCLI(t *testing.T, p *harness.Pair, c cliCase) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := p.Nodes[c.node]
	argv := append([]string{p.Bin}, c.args...)
	if !contains(c.args, "--config") && !contains(c.args, "version") {
		argv = append(argv, "--config", n.ConfigPath)
	}
	out, errOut, code, err := runIn(ctx, n, c.env, argv...)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	all := out + errOut
	if code != c.wantCode {
		t.Errorf("%s: exit %d, want %d\n%s", c.name, code, c.wantCode, all)
	}
	t.Logf("%s: exit %d\n%s", c.name, code, all)
	for _, w := range c.wantOut {
		if !strings.Contains(all, w) {
			t.Errorf("%s: output lacks %q:\n%s", c.name, w, all)
		}
	}
	return all
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Bad configuration: exit 2, the message names the key, nothing changes.
func TestConfigErrorsExit2(t *testing.T) {
	p := newPair(t, harness.Options{})
	dir := t.TempDir()
	write := func(name, extra string) string {
		b, err := os.ReadFile(p.Nodes[0].ConfigPath)
		must(t, err)
		path := dir + "/" + name + ".yaml"
		must(t, os.WriteFile(path, append(b, []byte(extra)...), 0o600))
		return path
	}
	cases := []cliCase{
		{name: "invalid value", args: []string{"check", "--config", write("badval", "vip:\n  garp_count: abc\n")},
			wantCode: 2, wantOut: []string{"vip.garp_count"}},
		{name: "unknown key", args: []string{"check", "--config", write("unknown", "vip:\n  adress: 10.0.0.1/24\n")},
			wantCode: 2, wantOut: []string{"vip.adress", "unknown key"}},
		{name: "unknown section", args: []string{"init", "--role", "primary", "--config", write("section", "replicaton:\n  publication: x\n")},
			wantCode: 2, wantOut: []string{"replicaton", "unknown section"}},
		{name: "bad duration", args: []string{"daemon", "--config", write("dur", "switchover:\n  step_timeout: fast\n")},
			wantCode: 2, wantOut: []string{"switchover.step_timeout"}},
		{name: "unknown environment variable", args: []string{"check"}, env: []string{"PGSWITCH_VIP_ADRESS=10.0.0.1/24"},
			wantCode: 2, wantOut: []string{"PGSWITCH_VIP_ADRESS"}},
		{name: "bad environment value", args: []string{"check"}, env: []string{"PGSWITCH_SWITCHOVER_MAX_LAG_BYTES=lots"},
			wantCode: 2, wantOut: []string{"switchover.max_lag_bytes"}},
		{name: "bad role", args: []string{"init", "--role", "leader"}, wantCode: 2, wantOut: []string{"--role"}},
		{name: "missing config", args: []string{"check", "--config", dir + "/nope.yaml"}, wantCode: 2, wantOut: []string{"nope.yaml"}},
		{name: "unknown flag", args: []string{"check", "--colour"}, wantCode: 2, wantOut: []string{"colour"}},
		{name: "version", args: []string{"version"}, wantCode: 0, wantOut: []string{"pgswitch"}},
	}
	for _, c := range cases {
		runCLI(t, p, c)
	}
	// Nothing was created by any of them.
	if _, err := os.Stat(p.Nodes[0].StateDir + "/state.json"); err == nil {
		t.Errorf("a failed command wrote a state file")
	}
	ctx := ctxFor(t, time.Minute)
	pub, err := p.Nodes[0].Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM pg_publication")
	must(t, err)
	if pub != "0" {
		t.Errorf("a failed command created a publication")
	}
}

// check and init reject bad databases with exit 1 and a message naming the
// problem, and change nothing.
func TestCheckAndInitRefusals(t *testing.T) {
	schema := `CREATE TABLE good (id int PRIMARY KEY, v text);`
	p := newPair(t, harness.Options{Schema: schema, Settings: map[string]string{}})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]

	// Clean: check passes before init.
	runCLI(t, p, cliCase{name: "check before init", args: []string{"check"}, wantCode: 0, wantOut: []string{"no problems found"}})

	// No replica identity.
	must(t, a.Cluster.Exec(ctx, harness.DB, "CREATE TABLE nokey (v text)"))
	must(t, b.Cluster.Exec(ctx, harness.DB, "CREATE TABLE nokey (v text)"))
	runCLI(t, p, cliCase{name: "check: no replica identity", args: []string{"check"}, wantCode: 1, wantOut: []string{"public.nokey", "no replica identity"}})
	runCLI(t, p, cliCase{name: "init: no replica identity", args: []string{"init", "--role", "primary"}, wantCode: 1, wantOut: []string{"public.nokey", "replica identity"}})
	pubs, err := a.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM pg_publication")
	must(t, err)
	if pubs != "0" {
		t.Fatalf("refused init created %s publication(s)", pubs)
	}
	must(t, a.Cluster.Exec(ctx, harness.DB, "ALTER TABLE nokey REPLICA IDENTITY FULL"))
	must(t, b.Cluster.Exec(ctx, harness.DB, "ALTER TABLE nokey REPLICA IDENTITY FULL"))

	// Schema drift.
	must(t, b.Cluster.Exec(ctx, harness.DB, "ALTER TABLE good ALTER COLUMN v TYPE varchar(10)"))
	runCLI(t, p, cliCase{name: "check: schema drift", args: []string{"check"}, wantCode: 1, wantOut: []string{"schema drift", "public.good", "column v"}})
	runCLI(t, p, cliCase{name: "init primary despite drift on the peer", args: []string{"init", "--role", "primary"}, wantCode: 0})
	runCLI(t, p, cliCase{name: "init standby: schema drift", node: 1, args: []string{"init", "--role", "standby"}, wantCode: 1, wantOut: []string{"schema differs", "column v"}})
	must(t, b.Cluster.Exec(ctx, harness.DB, "ALTER TABLE good ALTER COLUMN v TYPE text"))

	// Non-empty tables on the standby.
	must(t, b.Cluster.Exec(ctx, harness.DB, "INSERT INTO good VALUES (1, 'stray')"))
	runCLI(t, p, cliCase{name: "init standby: not empty", node: 1, args: []string{"init", "--role", "standby"}, wantCode: 1, wantOut: []string{"not empty", "public.good"}})
	must(t, b.Cluster.Exec(ctx, harness.DB, "DELETE FROM good"))

	// Missing privileges.
	must(t, b.Cluster.Exec(ctx, harness.DB, "CREATE ROLE weak LOGIN"))
	must(t, p.WriteConfig(b, []string{"", "# override"}))
	cfg, err := os.ReadFile(b.ConfigPath)
	must(t, err)
	weak := strings.Replace(string(cfg), "user=postgres dbname=app\"", "user=weak dbname=app\"", 1)
	weakPath := t.TempDir() + "/weak.yaml"
	must(t, os.WriteFile(weakPath, []byte(weak), 0o600))
	runCLI(t, p, cliCase{name: "init standby: not superuser", node: 1, args: []string{"init", "--role", "standby", "--config", weakPath},
		wantCode: 1, wantOut: []string{"role weak is not a superuser"}})

	// Unreachable peer.
	down := strings.Replace(string(cfg), p.PeerDSN(b), "host=127.0.0.1 port=1 user=postgres dbname=app connect_timeout=2", 1)
	downPath := t.TempDir() + "/down.yaml"
	must(t, os.WriteFile(downPath, []byte(down), 0o600))
	runCLI(t, p, cliCase{name: "check: unreachable peer", node: 1, args: []string{"check", "--config", downPath}, wantCode: 1, wantOut: []string{"cannot connect"}})
	runCLI(t, p, cliCase{name: "init standby: unreachable peer", node: 1, args: []string{"init", "--role", "standby", "--config", downPath}, wantCode: 1, wantOut: []string{"peer database"}})

	// Now it works, and running init again changes nothing.
	runCLI(t, p, cliCase{name: "init standby", node: 1, args: []string{"init", "--role", "standby"}, wantCode: 0, wantOut: []string{"STANDBY"}})
	runCLI(t, p, cliCase{name: "init primary again", args: []string{"init", "--role", "primary"}, wantCode: 0, wantOut: []string{"ACTIVE"}})
	runCLI(t, p, cliCase{name: "init standby again", node: 1, args: []string{"init", "--role", "standby"}, wantCode: 0, wantOut: []string{"already STANDBY"}})
	runCLI(t, p, cliCase{name: "init primary on the standby", node: 1, args: []string{"init", "--role", "primary"}, wantCode: 1, wantOut: []string{"second writer"}})
	runCLI(t, p, cliCase{name: "check after init", args: []string{"check"}, wantCode: 0, wantOut: []string{"no problems found"}})
}

// wal_level must be logical on both nodes.
func TestCheckWALLevel(t *testing.T) {
	p := newPair(t, harness.Options{Schema: `CREATE TABLE good (id int PRIMARY KEY)`})
	ctx := ctxFor(t, time.Minute)
	b := p.Nodes[1]
	must(t, b.Cluster.Exec(ctx, harness.DB, "ALTER SYSTEM SET wal_level = replica"))
	must(t, b.Cluster.Restart(ctx))
	runCLI(t, p, cliCase{name: "check: wal_level", args: []string{"check"}, wantCode: 1, wantOut: []string{"node-b", "wal_level is replica"}})
	runCLI(t, p, cliCase{name: "init standby: wal_level", node: 1, args: []string{"init", "--role", "standby"}, wantCode: 1, wantOut: []string{"wal_level"}})
}
