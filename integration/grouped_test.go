package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
)

// A fault inside a group of source transactions names the one that failed
// (its xid, as PostgreSQL's apply worker does), the ones before it are
// applied and none after it. A failure at the local commit (here a
// deferred trigger on the standby) belongs to the whole group: the applier
// then applies those transactions one by one, and the fault names the one.
// An UPDATE that finds no row inside a group names its own transaction.
func TestGroupFaultNamesTheTransaction(t *testing.T) {
	p := newPair(t, harness.Options{Schema: `CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);`})
	ctx := ctxFor(t, 3*time.Minute)
	a, b := p.Nodes[0], p.Nodes[1]
	must(t, p.Init(ctx))
	// As on a node initialised by an older pgswitch: the apply session
	// creates the key equality it needs.
	must(t, b.Cluster.Exec(ctx, harness.DB, "BEGIN READ WRITE; DROP FUNCTION pgswitch.key_eq(anyelement, anyelement); COMMIT"))
	must(t, p.StartDaemon(ctx, b))
	must(t, p.WaitCaughtUp(ctx, a, b))
	if has, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT (to_regprocedure('pgswitch.key_eq(anyelement,anyelement)') IS NOT NULL)::text"); err != nil || has != "true" {
		t.Fatalf("pgswitch.key_eq on the standby after the applier started: %q, %v", has, err)
	}
	conn, err := a.Cluster.Conn(ctx, harness.DB)
	must(t, err)
	defer conn.Close(context.Background())
	count := func(where string) int {
		t.Helper()
		s, err := b.Cluster.QueryString(ctx, harness.DB, "SELECT count(*)::text FROM items WHERE "+where)
		must(t, err)
		var n int
		fmt.Sscan(s, &n)
		return n
	}

	// A backlog builds while the daemon is down, so that groups form when
	// it starts; on the standby, the commit of the row 150 fails. The
	// trigger also makes each row cost a millisecond, so that applying is
	// slower than the walsender's decoding and the backlog waits in the
	// daemon (groups form only from what is waiting).
	must(t, b.Daemon.Kill9())
	must(t, b.Cluster.Exec(ctx, harness.DB, `BEGIN READ WRITE;
		CREATE FUNCTION refuse_150() RETURNS trigger LANGUAGE plpgsql AS
			$$BEGIN PERFORM pg_sleep(0.001); IF NEW.id = 150 THEN RAISE EXCEPTION 'row % refused at commit', NEW.id; END IF; RETURN NULL; END$$;
		CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON items DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW EXECUTE FUNCTION refuse_150();
		ALTER TABLE items ENABLE ALWAYS TRIGGER refuse;
		COMMIT`))
	var failing string
	for i := 1; i <= 300; i++ {
		xid, err := inTxn(ctx, conn, "INSERT INTO items (id) VALUES ($1)", i)
		must(t, err)
		if i == 150 {
			failing = xid
		}
	}
	must(t, p.StartDaemon(ctx, b))
	waitFault(t, ctx, p, b, "apply_error", "committing source transaction "+failing+" finished at")
	// After the first failure, whatever group it hit, everything received
	// is applied one transaction at a time: no second group fails.
	if n := strings.Count(b.Daemon.Log(), "source transactions from source transaction"); n > 1 {
		t.Errorf("%d groups failed at their commit; after the first, the applier should apply one by one", n)
	}
	if n, m := count("id < 150"), count("id >= 150"); n != 149 || m != 0 {
		t.Fatalf("the standby holds %d of the 149 rows before the failing transaction and %d from it on, want 149 and 0", n, m)
	}
	st, err := p.Status(ctx, b)
	must(t, err)
	if r := st.Replication; r == nil || r.LargestGroup < 2 {
		t.Fatalf("no group of several source transactions was applied before the fault (status %+v)", st.Replication)
	}

	// The trigger removed, the applier gets past it by itself.
	must(t, b.Cluster.Exec(ctx, harness.DB, "BEGIN READ WRITE; DROP TRIGGER refuse ON items; COMMIT"))
	must(t, p.WaitCaughtUp(ctx, a, b))
	must(t, p.SameData(ctx, "items"))
	// An UPDATE inside a group that finds no row on the standby.
	must(t, b.Daemon.Kill9())
	must(t, b.Cluster.Exec(ctx, harness.DB, "BEGIN READ WRITE; DELETE FROM items WHERE id = 42; COMMIT"))
	for i := 1; i <= 100; i++ {
		xid, err := inTxn(ctx, conn, "UPDATE items SET v = v + 1 WHERE id = $1", i)
		must(t, err)
		if i == 42 {
			failing = xid
		}
	}
	must(t, p.StartDaemon(ctx, b))
	waitFault(t, ctx, p, b, "divergence", "public.items in source transaction "+failing+" finished at")
	must(t, p.WaitCaughtUp(ctx, a, b))
	if n := count("v = 1"); n != 99 {
		t.Fatalf("%d rows updated on the standby, want the 99 it holds", n)
	}
}

// inTxn runs one statement in its own transaction and returns the
// transaction's xid.
func inTxn(ctx context.Context, conn *pgx.Conn, sql string, args ...any) (string, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return "", fmt.Errorf("%s: %w", sql, err)
	}
	var xid string
	if err := tx.QueryRow(ctx, "SELECT pg_catalog.pg_current_xact_id()::text").Scan(&xid); err != nil {
		return "", err
	}
	return xid, tx.Commit(ctx)
}
