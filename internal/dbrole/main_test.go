package dbrole

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/pgtest"
	"github.com/pgswitch/pgswitch/sql"
)

// One cluster serves the whole package; each test works in databases of
// its own, so a fence in one does not reach another. Slots are cluster-wide:
// every test names its own.
var (
	shared     *pgtest.Cluster
	sharedErr  error
	sharedOnce sync.Once
	logged     sync.Map // tests that show the server log when they fail
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Destroy(); err != nil && code == 0 {
			os.Stderr.WriteString("dbrole: destroying the test cluster: " + err.Error() + "\n")
			code = 1
		}
	}
	pgtest.Cleanup()
	os.Exit(code)
}

// cluster returns the package's cluster, starting it on first use. Without
// PostgreSQL the test is skipped, or fails with CI=true (pgtest.Need).
func cluster(t *testing.T) *pgtest.Cluster {
	t.Helper()
	pgtest.Need(t)
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		began := time.Now()
		// Prepared transactions are off by default; the fence must see one.
		shared, sharedErr = pgtest.New(ctx, pgtest.Options{Name: "dbrole",
			Settings: map[string]string{"max_prepared_transactions": "4"}})
		if sharedErr == nil {
			t.Logf("cluster on port %d ready in %v", shared.Port, time.Since(began).Round(time.Millisecond))
		}
	})
	if sharedErr != nil {
		t.Fatalf("starting the test cluster: %v", sharedErr)
	}
	if _, seen := logged.LoadOrStore(t, true); !seen {
		t.Cleanup(func() {
			logged.Delete(t)
			if t.Failed() {
				t.Logf("last lines of the server log:\n%s", shared.LogTail(40))
			}
		})
	}
	return shared
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newDB creates database name with pgswitch's schema and returns it as
// pgswitch administers it.
func newDB(t *testing.T, name string) *DB {
	t.Helper()
	c := cluster(t)
	ctx := testCtx(t)
	if err := c.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	// Dropped again so that -count=N can run the test on the same cluster
	// (registered first, so it runs after the test's own cleanups, which
	// drop the slots that would keep the database).
	t.Cleanup(func() {
		if err := c.Exec(context.Background(), "postgres", "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database: %v", err)
		}
	})
	if err := c.Exec(ctx, name, sql.Schema); err != nil {
		t.Fatalf("installing the schema in %s: %v", name, err)
	}
	return &DB{DSN: c.DSN(name), AppName: "pgswitch_test", Log: zerolog.Nop()}
}

// exec runs statements in db as a client (superuser postgres, no
// pgswitch application_name) on a fresh session.
func exec(t *testing.T, db, stmt string, args ...any) {
	t.Helper()
	if err := cluster(t).Exec(testCtx(t), db, stmt, args...); err != nil {
		t.Fatal(err)
	}
}

// client opens a client session on db with application_name app; it is
// closed at the end of the test.
func client(t *testing.T, db, user, app string) (*pgx.Conn, error) {
	t.Helper()
	c := cluster(t)
	conn, err := pgx.Connect(testCtx(t), c.DSN(db)+" user="+user+" application_name="+app)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, nil
}

func mustClient(t *testing.T, db, user, app string) *pgx.Conn {
	t.Helper()
	conn, err := client(t, db, user, app)
	if err != nil {
		t.Fatalf("connecting to %s as %s: %v", db, user, err)
	}
	return conn
}
