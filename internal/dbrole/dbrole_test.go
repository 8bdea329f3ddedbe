package dbrole

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/replication"
)

func clientMode(t *testing.T, d *DB) string {
	t.Helper()
	mode, err := d.ClientMode(testCtx(t))
	if err != nil {
		t.Fatalf("ClientMode: %v", err)
	}
	return mode
}

// insert writes a row as a client on a new session and returns the error.
func insert(t *testing.T, db, user string) error {
	t.Helper()
	conn, err := client(t, db, user, "app")
	if err != nil {
		return err
	}
	_, err = conn.Exec(testCtx(t), "INSERT INTO public.t VALUES (1)")
	return err
}

func TestFenceAndUnfence(t *testing.T) {
	d := newDB(t, "fence")
	ctx := testCtx(t)
	exec(t, "fence", "CREATE TABLE public.t (x int); CREATE ROLE app LOGIN; GRANT ALL ON public.t TO app")
	// Roles are cluster-wide: dropped again for -count=N (its grant first,
	// in a database the test leaves read-only).
	t.Cleanup(func() {
		c := cluster(t)
		if err := c.Exec(context.Background(), "fence", "BEGIN READ WRITE; DROP OWNED BY app; COMMIT"); err != nil {
			t.Errorf("dropping the grants of role app: %v", err)
		}
		if err := c.Exec(context.Background(), "postgres", "DROP ROLE app"); err != nil {
			t.Errorf("dropping role app: %v", err)
		}
	})
	if got := clientMode(t, d); got != "writable" {
		t.Fatalf("a new database is %q, want writable", got)
	}

	// A client session open before the fence is ended by it.
	before := mustClient(t, "fence", "app", "app")
	rep, err := d.Fence(ctx)
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	if rep.Terminated != 1 || rep.Rounds < 2 {
		t.Errorf("Fence report %+v: want 1 session terminated in at least 2 rounds", rep)
	}
	if _, err := before.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a client session from before the fence still works")
	}
	if got := clientMode(t, d); got != "fenced" {
		t.Errorf("after Fence, ClientMode = %q, want fenced", got)
	}
	// CONNECTION LIMIT 0 keeps the application role out...
	if _, err := client(t, "fence", "app", "app"); pgutil.SQLState(err) != pgutil.TooManyConnections {
		t.Errorf("connecting as app to a fenced database: %v, want SQLSTATE %s", err, pgutil.TooManyConnections)
	}
	// ...and a superuser, whom it does not stop, cannot write.
	if err := insert(t, "fence", "postgres"); pgutil.SQLState(err) != pgutil.ReadOnlyTransaction {
		t.Errorf("INSERT on a fenced database: %v, want SQLSTATE %s", err, pgutil.ReadOnlyTransaction)
	}
	// Fencing again is harmless.
	if _, err := d.Fence(ctx); err != nil {
		t.Fatalf("second Fence: %v", err)
	}

	if err := d.Unfence(ctx, true); err != nil {
		t.Fatalf("Unfence(true): %v", err)
	}
	if got := clientMode(t, d); got != "writable" {
		t.Errorf("after Unfence(true), ClientMode = %q, want writable", got)
	}
	if err := insert(t, "fence", "app"); err != nil {
		t.Errorf("INSERT as app after Unfence(true): %v", err)
	}

	if _, err := d.Fence(ctx); err != nil {
		t.Fatalf("Fence: %v", err)
	}
	if err := d.Unfence(ctx, false); err != nil {
		t.Fatalf("Unfence(false): %v", err)
	}
	if got := clientMode(t, d); got != "read-only" {
		t.Errorf("after Unfence(false), ClientMode = %q, want read-only", got)
	}
	// A standby takes client connections, for reading only.
	conn, err := client(t, "fence", "app", "app")
	if err != nil {
		t.Fatalf("connecting as app after Unfence(false): %v", err)
	}
	var ro string
	if err := conn.QueryRow(ctx, "SHOW transaction_read_only").Scan(&ro); err != nil || ro != "on" {
		t.Errorf("transaction_read_only on a standby session = %q (%v), want on", ro, err)
	}
	if err := insert(t, "fence", "app"); pgutil.SQLState(err) != pgutil.ReadOnlyTransaction {
		t.Errorf("INSERT after Unfence(false): %v, want SQLSTATE %s", err, pgutil.ReadOnlyTransaction)
	}
}

// The fence keeps the operator's own connection limit and puts it back.
func TestUnfenceRestoresConnectionLimit(t *testing.T) {
	d := newDB(t, "connlimit")
	ctx := testCtx(t)
	exec(t, "connlimit", "ALTER DATABASE connlimit CONNECTION LIMIT 7")
	limit := func() string {
		t.Helper()
		s, err := cluster(t).QueryString(ctx, "connlimit", "SELECT datconnlimit::text FROM pg_database WHERE datname = 'connlimit'")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for range 2 { // twice: a second fence must not save its own 0
		if _, err := d.Fence(ctx); err != nil {
			t.Fatalf("Fence: %v", err)
		}
		if got := limit(); got != "0" {
			t.Errorf("fenced: connection limit %s, want 0", got)
		}
	}
	if err := d.Unfence(ctx, true); err != nil {
		t.Fatalf("Unfence: %v", err)
	}
	if got := limit(); got != "7" {
		t.Errorf("unfenced: connection limit %s, want the operator's 7", got)
	}
}

func TestFenceRefusesPreparedTransactions(t *testing.T) {
	d := newDB(t, "prepared")
	ctx := testCtx(t)
	exec(t, "prepared", "CREATE TABLE public.t (x int)")
	exec(t, "prepared", "BEGIN; INSERT INTO public.t VALUES (1); PREPARE TRANSACTION 'dbrole_test'")
	_, err := d.Fence(ctx)
	if !errors.Is(err, ErrPreparedXacts) || !strings.Contains(err.Error(), ": 1 ") {
		t.Errorf("Fence with one prepared transaction: %v, want ErrPreparedXacts naming 1", err)
	}
	exec(t, "prepared", "ROLLBACK PREPARED 'dbrole_test'")
	if _, err := d.Fence(ctx); err != nil {
		t.Errorf("Fence once the prepared transaction is gone: %v", err)
	}
}

func TestTerminateClients(t *testing.T) {
	d := newDB(t, "term")
	ctx := testCtx(t)
	newDB(t, "term_other")
	victims := []*pgx.Conn{mustClient(t, "term", "postgres", "psql"), mustClient(t, "term", "postgres", "app")}
	// pgswitch's own sessions (its application_name and role) are spared,
	// and so is everything on other databases.
	own := mustClient(t, "term", "postgres", "pgswitch_b_applier")
	other := mustClient(t, "term_other", "postgres", "psql")

	n, err := d.TerminateClients(ctx)
	if err != nil {
		t.Fatalf("TerminateClients: %v", err)
	}
	if n != 2 {
		t.Errorf("TerminateClients ended %d sessions, want 2", n)
	}
	for i, conn := range victims {
		if err := conn.Ping(ctx); err == nil {
			t.Errorf("client session %d still answers", i)
		}
	}
	if err := own.Ping(ctx); err != nil {
		t.Errorf("pgswitch's own session was ended: %v", err)
	}
	if err := other.Ping(ctx); err != nil {
		t.Errorf("a session on another database was ended: %v", err)
	}
	if n, err := d.TerminateClients(ctx); err != nil || n != 0 {
		t.Errorf("second TerminateClients = %d, %v; want 0, nil", n, err)
	}
}

func TestWriteMarker(t *testing.T) {
	d := newDB(t, "marker")
	ctx := testCtx(t)
	// A test_decoding slot shows what the marker is to a decoder.
	exec(t, "marker", "SELECT pg_create_logical_replication_slot('dbrole_marker_peek', 'test_decoding')")
	t.Cleanup(func() { d.DropSlot(context.Background(), "dbrole_marker_peek") })

	var prev replication.LSN
	for i := range 3 {
		lsn, err := d.WriteMarker(ctx, fmt.Sprintf("switch-%d", i))
		if err != nil {
			t.Fatalf("WriteMarker: %v", err)
		}
		if lsn <= prev {
			t.Errorf("marker %d at %s, not after the previous one at %s", i, lsn, prev)
		}
		prev = lsn
	}
	// The fence does not stop pgswitch's own session.
	if _, err := d.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	lsn, err := d.WriteMarker(ctx, "switch-fenced")
	if err != nil {
		t.Fatalf("WriteMarker on a fenced database: %v", err)
	}
	if lsn <= prev {
		t.Errorf("marker on the fenced database at %s, not after %s", lsn, prev)
	}
	text, err := d.WriteLSN(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := replication.ParseLSN(text); err != nil || w < lsn {
		t.Errorf("WriteLSN = %s (%v), behind the last marker %s", text, err, lsn)
	}

	rows, err := cluster(t).Conn(ctx, "marker")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close(context.Background())
	r, err := rows.Query(ctx, "SELECT data FROM pg_logical_slot_peek_changes('dbrole_marker_peek', NULL, NULL)")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for r.Next() {
		var data string
		if err := r.Scan(&data); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(data, "message:") {
			msgs = append(msgs, data)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range []string{"switch-0", "switch-1", "switch-2", "switch-fenced"} {
		want = append(want, fmt.Sprintf("message: transactional: 1 prefix: pgswitch, sz: %d content:%s", len(c), c))
	}
	if !slices.Equal(msgs, want) {
		t.Errorf("decoded messages:\n  %q\nwant\n  %q", msgs, want)
	}
}

func slotNamed(t *testing.T, d *DB, name string) (SlotUse, bool) {
	t.Helper()
	slots, err := d.Slots(testCtx(t))
	if err != nil {
		t.Fatalf("Slots: %v", err)
	}
	for _, s := range slots {
		if s.Name == name {
			return s, true
		}
	}
	return SlotUse{}, false
}

func TestSlotsAndDropSlot(t *testing.T) {
	d := newDB(t, "slots")
	ctx := testCtx(t)
	const name = "dbrole_slots_test"
	if _, ok := slotNamed(t, d, name); ok {
		t.Fatalf("slot %s exists before it was created", name)
	}
	exec(t, "slots", "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", name)
	// Some WAL after the slot's restart point, so that it retains some.
	exec(t, "slots", "CREATE TABLE public.filler AS SELECT g FROM generate_series(1, 1000) g")
	s, ok := slotNamed(t, d, name)
	if !ok {
		t.Fatalf("Slots does not list %s", name)
	}
	if s.Active {
		t.Errorf("slot %s without a consumer is listed active", name)
	}
	if s.Retained <= 0 {
		t.Errorf("slot %s retains %d bytes after WAL was written, want > 0", name, s.Retained)
	}

	if err := d.DropSlot(ctx, name); err != nil {
		t.Fatalf("DropSlot: %v", err)
	}
	if _, ok := slotNamed(t, d, name); ok {
		t.Errorf("slot %s is still listed after DropSlot", name)
	}
	if err := d.DropSlot(ctx, name); err != nil {
		t.Errorf("DropSlot of a slot that is gone: %v", err)
	}
}

func TestCreateReverseSlotAndLookupSlot(t *testing.T) {
	d := newDB(t, "reverse")
	ctx := testCtx(t)
	const name = "dbrole_reverse_test"
	t.Cleanup(func() { d.DropSlot(context.Background(), name) })
	if _, found, err := d.LookupSlot(ctx, name); err != nil || found {
		t.Fatalf("LookupSlot before creation: found=%t, %v", found, err)
	}
	lsn, err := d.CreateReverseSlot(ctx, name)
	if err != nil {
		t.Fatalf("CreateReverseSlot: %v", err)
	}
	if lsn == 0 {
		t.Fatal("CreateReverseSlot returned LSN 0")
	}
	info, found, err := d.LookupSlot(ctx, name)
	if err != nil || !found {
		t.Fatalf("LookupSlot after creation: found=%t, %v", found, err)
	}
	want := replication.SlotInfo{Name: name, Plugin: "pgoutput", Type: "logical", Database: "reverse", ConfirmedFlush: lsn}
	got := info
	got.Restart, got.WALStatus = 0, "" // not decided by CreateReverseSlot
	if got != want {
		t.Errorf("LookupSlot = %+v\nwant %+v", info, want)
	}
	if info.Restart == 0 || info.Restart > lsn {
		t.Errorf("restart point %s, want a position at or before the consistent point %s", info.Restart, lsn)
	}

	// Again, after more WAL: the existing slot is returned as it is.
	if _, err := d.WriteMarker(ctx, "later"); err != nil {
		t.Fatal(err)
	}
	again, err := d.CreateReverseSlot(ctx, name)
	if err != nil {
		t.Fatalf("second CreateReverseSlot: %v", err)
	}
	if again != lsn {
		t.Errorf("second CreateReverseSlot = %s, want the existing slot's %s", again, lsn)
	}
	slots, err := d.Slots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range slots {
		if s.Name == name {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d slots named %s, want 1", n, name)
	}
}

func TestFollow(t *testing.T) {
	d := newDB(t, "follow")
	ctx := testCtx(t)
	const origin = "pgswitch_from_dbrole_test"
	at, err := d.WriteMarker(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	progress := func() (replication.LSN, bool) {
		t.Helper()
		conn, err := cluster(t).Conn(ctx, "follow")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		pos, ok, err := replication.OriginProgress(ctx, conn, origin)
		if err != nil {
			t.Fatal(err)
		}
		return pos, ok
	}
	if err := d.Follow(ctx, origin, at); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if pos, ok := progress(); !ok || pos != at {
		t.Errorf("origin at %s (set %t), want %s", pos, ok, at)
	}
	// Following again (the origin exists now) moves it.
	if err := d.Follow(ctx, origin, at+8); err != nil {
		t.Fatalf("second Follow: %v", err)
	}
	if pos, ok := progress(); !ok || pos != at+8 {
		t.Errorf("origin at %s (set %t), want %s", pos, ok, at+8)
	}
}

func TestSystemIDVerified(t *testing.T) {
	d := newDB(t, "sysid")
	ctx := testCtx(t)
	id, err := cluster(t).QueryString(ctx, "sysid", "SELECT system_identifier::text FROM pg_control_system()")
	if err != nil {
		t.Fatal(err)
	}
	right := *d
	right.SystemID, right.Which = id, "local"
	if _, err := right.ClientMode(ctx); err != nil {
		t.Errorf("ClientMode with the right system identifier: %v", err)
	}
	wrong := *d
	wrong.SystemID, wrong.Which = "1"+id, "peer"
	_, err = wrong.ClientMode(ctx)
	var wde *pgutil.WrongDatabaseError
	if !errors.Is(err, pgutil.ErrWrongDatabase) || !errors.As(err, &wde) || wde.Which != "peer" || wde.Found != id {
		t.Errorf("ClientMode with another system identifier: %v, want a WrongDatabaseError for the peer finding %s", err, id)
	}
	if err := wrong.Unfence(ctx, true); !errors.Is(err, pgutil.ErrWrongDatabase) {
		t.Errorf("Unfence with another system identifier: %v, want ErrWrongDatabase", err)
	}
}
