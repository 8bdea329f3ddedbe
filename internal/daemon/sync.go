package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
)

// syncState is the synchronous-mode bookkeeping of the active node
// (reconcile goroutine only).
type syncState struct {
	lastStreaming time.Time // when the peer's applier last streamed caught up
	following     bool      // the peer has streamed since this node became active
	degraded      bool
}

// reconcileSync keeps synchronous_standby_names right when
// replication.synchronous is on: on the active it names the standby's
// applier (so commits wait for its flush), unless the standby has been gone
// for replication.sync_degrade_after (then it is emptied, commits go on, and
// the fault synchronous_degraded is raised until the standby streams again,
// caught up). 0 is strict: it is never emptied. On a standby it is empty.
// Without synchronous mode pgswitch leaves the setting to the operator.
func (d *Daemon) reconcileSync(ctx context.Context) {
	cfg := d.conf()
	if !cfg.Replication.Synchronous {
		return
	}
	w := handshake.WantOf(d.state())
	if w.SyncNames == handshake.SyncAsIs {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgutil.Connect(ctx, cfg.Postgres.DSN, pgutil.Options{AppName: cfg.ApplicationName() + "_admin", Writable: true,
		Params: map[string]string{"synchronous_commit": "local"}})
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	want := ""
	if w.SyncNames == handshake.SyncPolicy {
		want = d.syncWanted(ctx, conn)
	} else {
		d.sync = syncState{}
	}
	d.note(FaultSyncDegraded, fmt.Sprintf("synchronous replication suspended: %s has not streamed for more than replication.sync_degrade_after=%s; commits are acknowledged without it",
		cfg.Peer.Name, cfg.Replication.SyncDegradeAfter), w.SyncNames == handshake.SyncPolicy && d.sync.degraded, 0)
	if err := setSyncNames(ctx, conn, want); err != nil {
		d.logger().Error().Err(err).Msg("setting synchronous_standby_names")
	}
}

// syncWanted decides the active's synchronous_standby_names from what it
// observes now (decideSync is the policy).
func (d *Daemon) syncWanted(ctx context.Context, conn *pgx.Conn) string {
	cfg := d.conf()
	var streaming bool
	var behind int64
	err := conn.QueryRow(ctx, `SELECT true, coalesce(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), flush_lsn), 0)::bigint
		FROM pg_catalog.pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`, cfg.PeerApplicationName()).Scan(&streaming, &behind)
	caughtUp := err == nil && streaming && behind <= cfg.Switchover.MaxLagBytes
	next, names, change := decideSync(d.sync, time.Now(), caughtUp, cfg.Replication.SyncDegradeAfter, pgutil.Ident(cfg.PeerApplicationName()))
	d.sync = next
	switch change {
	case syncResumed:
		d.logger().Warn().Str("standby", cfg.Peer.Name).Msg("synchronous replication resumed: the standby streams again")
	case syncSuspended:
		d.logger().Error().Str("standby", cfg.Peer.Name).Dur("after", cfg.Replication.SyncDegradeAfter).Msg("synchronous replication suspended: the standby is gone; commits no longer wait for it")
	}
	return names
}

// syncChange is what a decision changed, for the log.
type syncChange int

const (
	syncSame syncChange = iota
	syncResumed
	syncSuspended
)

// decideSync is the active's synchronous policy, a pure function: given its
// bookkeeping, the time, whether the standby streams caught up (within
// switchover.max_lag_bytes), replication.sync_degrade_after and the
// standby's name, it returns the new bookkeeping and the names commits must
// wait for.
//   - after = 0 (strict): always the standby, gone or not;
//   - a new active waits for its follower to stream before commits wait for
//     it (at most after, then degraded);
//   - the standby gone for longer than after: degraded, no names (the fault
//     synchronous_degraded), until it streams caught up again.
func decideSync(st syncState, now time.Time, caughtUp bool, after time.Duration, name string) (syncState, string, syncChange) {
	change := syncSame
	if st.lastStreaming.IsZero() {
		st.lastStreaming = now // give a new follower its time to connect
	}
	if caughtUp {
		st.lastStreaming = now
		st.following = true
		if st.degraded {
			change = syncResumed
		}
		st.degraded = false
	}
	if after == 0 {
		return st, name, change
	}
	if after > 0 && now.Sub(st.lastStreaming) > after && !st.degraded {
		st.degraded = true
		change = syncSuspended
	}
	if st.degraded || !st.following {
		return st, "", change
	}
	return st, name, change
}

// setSyncNames changes synchronous_standby_names (ALTER SYSTEM and a
// reload) when it differs.
func setSyncNames(ctx context.Context, conn *pgx.Conn, want string) error {
	var cur string
	if err := conn.QueryRow(ctx, "SELECT current_setting('synchronous_standby_names')").Scan(&cur); err != nil {
		return err
	}
	if cur == want {
		return nil
	}
	if _, err := conn.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = "+pgutil.Literal(want)); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_reload_conf()"); err != nil {
		return err
	}
	// The reload is asynchronous: wait (bounded by ctx) until this
	// session sees it.
	for {
		if err := conn.QueryRow(ctx, "SELECT current_setting('synchronous_standby_names')").Scan(&cur); err != nil {
			return fmt.Errorf("reading synchronous_standby_names after the reload: %w", err)
		}
		if cur == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("synchronous_standby_names is still %q, not %q, after the reload: %w", cur, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// strictSync: in strict synchronous mode the new active names its follower
// before it takes a single write, so that no commit is acknowledged without
// it. (Otherwise the reconcile loop names it once it streams.)
func (d *Daemon) strictSync(ctx context.Context) error {
	cfg := d.conf()
	if !cfg.Replication.Synchronous || cfg.Replication.SyncDegradeAfter != 0 {
		return nil
	}
	conn, err := pgutil.Connect(ctx, cfg.Postgres.DSN, pgutil.Options{AppName: cfg.ApplicationName() + "_admin", Writable: true,
		Params: map[string]string{"synchronous_commit": "local"}})
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return setSyncNames(ctx, conn, pgutil.Ident(cfg.PeerApplicationName()))
}
