package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/pgtest"
	"github.com/pgswitch/pgswitch/internal/replication"
)

// SPEC §9 rule 6, in network namespaces with etcd on a host of its own:
// the active's host is cut off — from everything (its cable pulled), or
// from etcd only — while an application on that same host keeps writing
// to it. The active fences
// itself before etcd lets the standby in; the standby takes over and takes
// writes through the VIP. Never two writers: the last write the cut-off
// active acknowledged precedes the new active's first; the VIP is never on
// both hosts. Healed, the old active stays SELF_FENCED in the old epoch.
func TestFailoverWhenTheActiveIsCutOff(t *testing.T) {
	for _, c := range []struct {
		name      string
		cut, heal func(*pgtest.NetTopology) error
	}{
		// The host loses its cable: etcd and the peer are gone at once.
		{"cable pulled",
			func(n *pgtest.NetTopology) error { return n.Cut("a") },
			func(n *pgtest.NetTopology) error { return n.Heal("a") }},
		// Only etcd is out of its reach: the standby, which reads etcd,
		// refuses the failsafe promise, so the active still fences in
		// time, and the takeover can fence its database too.
		{"etcd only",
			func(n *pgtest.NetTopology) error { return n.CutBetween("a", "etcd") },
			func(n *pgtest.NetTopology) error { return n.HealBetween("a", "etcd") }},
	} {
		t.Run(c.name, func(t *testing.T) { cutOff(t, c.cut, c.heal) })
	}
}

func cutOff(t *testing.T, cutFn, healFn func(*pgtest.NetTopology) error) {
	var etcdURL string
	np := newNetPairWith(t, harness.Options{Config: func(int) []string {
		return []string{"quorum:", "  endpoints: [" + etcdURL + "]", "  cluster: cutoff"}
	}}, func(top *pgtest.NetTopology) {
		h := top.Hosts["etcd"]
		etcdURL = pgtest.StartEtcdIn(t, h.NS, h.Addr).Endpoints()[0]
	}, "etcd")
	ctx := ctxFor(t, 4*time.Minute)
	a, b := np.start(ctx, t)
	np.settled(ctx, t)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch := np.watchVIP(wctx)
	vip := np.startWriter(wctx, t, "vip", np.vip)
	// Only the standby's database answers here: its first acknowledged
	// write is the new active's first.
	direct := np.startWriter(wctx, t, "direct-b", b.Addr)
	// The application on the active's own host, which a pulled cable
	// does not stop.
	local := &writer{w: harness.StartWriters(wctx, harness.WriterOptions{
		Via: "local-a",
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=app dbname=app connect_timeout=2 sslmode=disable", a.Addr, np.port))
			if err != nil {
				return nil, err
			}
			cfg.DialFunc = pgtest.NSDialer(a.NetNS)
			cfg.LookupFunc = func(_ context.Context, h string) ([]string, error) { return []string{h}, nil }
			return pgx.ConnectConfig(ctx, cfg)
		},
		Insert:         "INSERT INTO writes (id, via) VALUES (nextval('tickets'), $1) RETURNING id",
		Args:           func(int) []any { return []any{"local-a"} },
		ConnectTimeout: 300 * time.Millisecond,
	})}
	pgtest.Eventually(t, 30*time.Second, "writes through the VIP and on "+a.Name, func() (bool, error) {
		return len(vip.w.Acks()) > 50 && len(local.w.Acks()) > 50, nil
	})

	cut := time.Now()
	must(t, cutFn(np.net))
	pgtest.Eventually(t, 30*time.Second, b.Name+" to take writes", func() (bool, error) {
		return len(direct.w.Acks()) > 0, nil
	})
	pgtest.Eventually(t, 30*time.Second, b.Name+" to be ACTIVE in epoch 2", func() (bool, error) {
		st, err := np.Status(ctx, b)
		return err == nil && st.State == "ACTIVE" && st.Epoch == 2, nil
	})
	sleepCtx(ctx, time.Second)
	must(t, healFn(np.net))
	pgtest.Eventually(t, 30*time.Second, a.Name+" healed to be fenced behind epoch 2", func() (bool, error) {
		st, err := np.Status(ctx, a)
		return err == nil && ((st.State == "SELF_FENCED" && st.Epoch == 1) || (st.State == "STANDBY" && st.Epoch == 2)), nil
	})
	sleepCtx(ctx, 2*time.Second)
	cancel()
	viaVIP, onA, onB := vip.stop(), local.stop(), direct.stop()
	both, holders := watch.stop()

	var lastA, firstB time.Time
	for _, k := range onA {
		if k.End.After(lastA) {
			lastA = k.End
		}
	}
	for _, k := range onB {
		if firstB.IsZero() || k.Start.Before(firstB) {
			firstB = k.Start
		}
	}
	t.Logf("cut at %s; %s's last acknowledged write ended %s after; the first write on %s started %s after (%d writes through the VIP, %d on %s; VIP samples %v)",
		cut.Format(time.StampMilli), a.Name, lastA.Sub(cut).Round(time.Millisecond), b.Name, firstB.Sub(cut).Round(time.Millisecond),
		len(viaVIP), len(onA), a.Name, holders)
	if !lastA.Before(firstB) {
		t.Errorf("two writers: %s acknowledged a write until %s, %s took one from %s", a.Name, lastA.Format(time.StampMicro), b.Name, firstB.Format(time.StampMicro))
	}
	if len(both) > 0 {
		t.Errorf("the VIP was on both hosts at %d sampled moments (first %s)", len(both), both[0].Format(time.StampMicro))
	}
	// Everything acknowledged by the new active is there.
	have := idsOn(ctx, t, b)
	for _, k := range onB {
		if !have[k.ID] {
			t.Errorf("write %d acknowledged by %s through the VIP is missing there", k.ID, b.Name)
		}
	}
	if err := writable(ctx, a); err == nil {
		t.Errorf("%s took a write after it was healed", a.Name)
	}
	// Rule 6, asynchronous mode: every write the cut-off active
	// acknowledged that the new active lacks is in its lost-transaction
	// report, and nothing in the report is on the new active.
	var dv *api.Divergence
	pgtest.Eventually(t, 30*time.Second, a.Name+" to examine what it alone committed", func() (bool, error) {
		st, err := np.Status(ctx, a)
		if err == nil && st.State == "STANDBY" {
			return true, nil // nothing was lost: it follows
		}
		dv = st.Divergence
		return err == nil && dv != nil, nil
	})
	// A reported row is on the new active only if a row there has its
	// id, its writer and its time: the new active may hand out an id the
	// old one gave a lost row after its last published position (README).
	type row struct{ via, at string }
	reported := map[int64]row{}
	if dv != nil {
		data, err := os.ReadFile(dv.Report)
		must(t, err)
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var tx replication.LostTxn
			must(t, json.Unmarshal([]byte(line), &tx))
			for _, c := range tx.Changes {
				if c.Op == "INSERT" && c.Table == "public.writes" && c.New["id"] != nil {
					id, err := strconv.ParseInt(*c.New["id"], 10, 64)
					must(t, err)
					reported[id] = row{via: *c.New["via"], at: *c.New["at"]}
				}
			}
		}
	}
	missing := 0
	for _, k := range onA {
		if !have[k.ID] {
			missing++
		}
		if _, ok := reported[k.ID]; !have[k.ID] && !ok {
			t.Errorf("write %d, acknowledged by %s, is neither on %s nor in the report", k.ID, a.Name, b.Name)
		}
	}
	onNew := map[int64]row{}
	conn, err := b.Cluster.Conn(ctx, harness.DB)
	must(t, err)
	rows, err := conn.Query(ctx, "SELECT id, via, at::text FROM writes")
	must(t, err)
	for rows.Next() {
		var id int64
		var r row
		must(t, rows.Scan(&id, &r.via, &r.at))
		onNew[id] = r
	}
	must(t, rows.Err())
	conn.Close(ctx)
	reused := 0
	for id, r := range reported {
		got, ok := onNew[id]
		switch {
		case !ok:
		case got == r:
			t.Errorf("write %d (%s at %s) is in the report but on %s too", id, r.via, r.at, b.Name)
		default:
			reused++
		}
	}
	if reused > 0 {
		t.Logf("%d ids of reported rows were handed out again by %s (past the last published position)", reused, b.Name)
	}
	t.Logf("%d acknowledged writes of %s are missing on %s, all in the report (%d rows reported)", missing, a.Name, b.Name, len(reported))

	// The sequence never went back on the new active.
	for _, f := range direct.w.FailuresBetween(firstB, time.Now()) {
		if strings.Contains(f.Err, "duplicate key") {
			t.Errorf("an insert on the new active failed on a duplicate key: %s", f.Err)
			break
		}
	}
}
