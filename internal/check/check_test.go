package check

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/state"
)

func TestFindingString(t *testing.T) {
	for _, tc := range []struct {
		f    Finding
		want string
	}{
		{Finding{OK: true, Node: "node-a", Text: "database reachable"}, "ok    node-a     database reachable"},
		{Finding{OK: false, Node: "node-b", Text: "wal_level is replica"}, "FAIL  node-b     wal_level is replica"},
		{Finding{OK: true, Node: "both", Text: "x"}, "ok    both       x"},
		// A name of 10 characters or more is not cut, only no longer padded.
		{Finding{OK: false, Node: "node-alpha", Text: "x"}, "FAIL  node-alpha x"},
		{Finding{OK: true, Node: "a-long-node-name", Text: "x"}, "ok    a-long-node-name x"},
		{Finding{}, "FAIL             "},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestReportFailedAndPrint(t *testing.T) {
	r := &Report{}
	var out bytes.Buffer
	r.Print(&out)
	if r.Failed() != 0 || out.String() != "no problems found\n" {
		t.Errorf("empty report: Failed() = %d, printed %q", r.Failed(), out.String())
	}

	r.ok("node-a", "database %s reachable", "h:5432/db as u")
	r.fail("node-b", "no free replication slot (max_replication_slots=%d, %d in use)", 4, 4)
	r.ok("quorum", "none configured")
	r.fail("both", "schema drift: %s", "a differs")
	if got := r.Failed(); got != 2 {
		t.Errorf("Failed() = %d, want 2", got)
	}
	out.Reset()
	r.Print(&out)
	want := "ok    node-a     database h:5432/db as u reachable\n" +
		"FAIL  node-b     no free replication slot (max_replication_slots=4, 4 in use)\n" +
		"ok    quorum     none configured\n" +
		"FAIL  both       schema drift: a differs\n" +
		"2 problem(s) found\n"
	if out.String() != want {
		t.Errorf("Print:\n%s\nwant:\n%s", out.String(), want)
	}

	ok := &Report{}
	ok.ok("node-a", "fine")
	out.Reset()
	ok.Print(&out)
	if want := "ok    node-a     fine\nno problems found\n"; out.String() != want {
		t.Errorf("Print of a clean report = %q, want %q", out.String(), want)
	}
}

// chooseSource decides from a recorded state without asking any database;
// only an uninitialised node ("") looks for the publication. Every state is
// listed: the peer is the source of a node that applies from it (a
// standby, faulty or not, one agreeing or claiming), of one being copied,
// and of an old active behind a later epoch with lost transactions.
func TestChooseSourceByState(t *testing.T) {
	local, peer := &side{name: "node-a"}, &side{name: "node-b"}
	cfg := &config.Config{}
	cases := []struct {
		st         handshake.State
		behind     bool
		peerSource bool
	}{
		{handshake.Standby, false, true},
		{handshake.Initializing, false, true},
		{handshake.AgreeSwitch, false, true},
		{handshake.Fault, false, true},
		{handshake.Claiming, false, true},
		{handshake.Active, false, false},
		{handshake.RequestingSwitch, false, false},
		{handshake.SwitchingOut, false, false},
		{handshake.SwitchingIn, false, false},
		{handshake.Fenced, false, false},
		{handshake.Resuming, false, false},
		{handshake.SelfFenced, false, false},
		{handshake.TakingOver, false, false},
		{handshake.SelfFenced, true, true},
	}
	covered := map[handshake.State]bool{}
	for _, tc := range cases {
		covered[tc.st] = true
	}
	for _, st := range handshake.States {
		if !covered[st] {
			t.Errorf("state %s has no case", st)
		}
	}
	for _, tc := range cases {
		src, dst := chooseSource(context.Background(), cfg, tc.st, tc.behind, local, peer)
		wantSrc, wantDst := local, peer
		if tc.peerSource {
			wantSrc, wantDst = peer, local
		}
		if src != wantSrc || dst != wantDst {
			t.Errorf("%s: source %s, target %s; want %s, %s", tc.st, src.name, dst.name, wantSrc.name, wantDst.name)
		}
	}
}

func TestVerifyIdentityWithoutSomethingToCompare(t *testing.T) {
	r := &Report{}
	verifyIdentity(context.Background(), r, nil, "host=h", "local", "7301")
	verifyIdentity(context.Background(), r, &side{name: "node-a"}, "host=h", "local", "")
	if len(r.Findings) != 0 {
		t.Errorf("findings without a database or a recorded identifier: %v", r.Findings)
	}
}

// unreachable is a DSN whose unix socket directory does not exist: the
// connection fails at once, without any network.
func unreachable(db string) string {
	return "host=/nonexistent-pgswitch-check port=5432 user=u password=s3cret connect_timeout=2 dbname=" + db
}

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := &config.Config{}
	cfg.Node.Name, cfg.Peer.Name = "node-a", "node-b"
	cfg.Node.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.Postgres.DSN, cfg.Postgres.PeerDSN = unreachable("a"), unreachable("b")
	return cfg
}

func runCheck(t *testing.T, cfg *config.Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var out bytes.Buffer
	r.Print(&out)
	if strings.Contains(out.String(), "s3cret") {
		t.Errorf("the report shows a password:\n%s", out.String())
	}
	return r
}

// expect compares the findings with want, one "OK node prefix" each.
func expect(t *testing.T, r *Report, want []Finding) {
	t.Helper()
	if len(r.Findings) != len(want) {
		t.Fatalf("%d findings, want %d: %v", len(r.Findings), len(want), r.Findings)
	}
	for i, w := range want {
		f := r.Findings[i]
		if f.OK != w.OK || f.Node != w.Node || !strings.HasPrefix(f.Text, w.Text) {
			t.Errorf("finding %d = %v, want %v…", i, f, w)
		}
	}
}

// Unreachable databases are findings, not an error of the check.
func TestRunUnreachableUninitialised(t *testing.T) {
	cfg := testConfig(t)
	r := runCheck(t, cfg)
	expect(t, r, []Finding{
		{false, "node-a", "cannot connect to the database /nonexistent-pgswitch-check:5432/a as u: "},
		{false, "node-b", "cannot connect to the database /nonexistent-pgswitch-check:5432/b as u: "},
		{true, "node-a", "not initialised yet (no state file in " + cfg.Node.StateDir + ")"},
		{true, "quorum", "none configured (quorum.endpoints is empty): no unplanned failover"},
	})
	if r.Failed() != 2 {
		t.Errorf("Failed() = %d, want 2", r.Failed())
	}
}

func TestRunUnreachableInitialised(t *testing.T) {
	cfg := testConfig(t)
	store, err := state.Open(cfg.Node.StateDir, cfg.Node.Name)
	if err != nil {
		t.Fatal(err)
	}
	rec := state.Record{Name: "node-a", Node: handshake.Node{State: handshake.Standby, Epoch: 7}, LocalSystemID: "1", PeerSystemID: "2"}
	if err := store.Save(rec, ""); err != nil {
		t.Fatal(err)
	}
	r := runCheck(t, cfg)
	// No identity findings: neither database could be asked.
	expect(t, r, []Finding{
		{false, "node-a", "cannot connect"},
		{false, "node-b", "cannot connect"},
		{true, "node-a", "state file says STANDBY (epoch 7)"},
		{true, "quorum", "none configured"},
	})
}

func TestRunDamagedStateFile(t *testing.T) {
	cfg := testConfig(t)
	store, err := state.Open(cfg.Node.StateDir, cfg.Node.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store.Path(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCheck(t, cfg)
	expect(t, r, []Finding{
		{false, "node-a", "cannot connect"},
		{false, "node-b", "cannot connect"},
		{false, "node-a", "state file " + store.Path() + " is damaged"},
		{true, "quorum", "none configured"},
	})
}
