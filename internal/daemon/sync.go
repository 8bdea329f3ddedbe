package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/supervise"
	"github.com/pgswitch/pgswitch/internal/syncpolicy"
)

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
		d.sync = syncpolicy.State{}
		d.syncKey = syncKeyState{}
	}
	d.note(supervise.SyncDegraded, fmt.Sprintf("synchronous replication suspended: %s has not streamed for more than replication.sync_degrade_after=%s; commits are acknowledged without it",
		cfg.Peer.Name, cfg.Replication.SyncDegradeAfter), w.SyncNames == handshake.SyncPolicy && d.sync.Degraded(), 0)
	if want == "" && w.SyncNames == handshake.SyncPolicy && !d.clearSyncKey(ctx) {
		// The quorum still names the standby: commits keep waiting.
		return
	}
	if err := syncpolicy.Apply(ctx, conn, want); err != nil {
		d.logger().Error().Err(err).Msg("setting synchronous_standby_names")
		return
	}
	if want != "" {
		d.nameSyncStandby(ctx, conn)
	}
}

// syncKeyState is the active's record of the quorum's sync key (reconcile
// goroutine only).
type syncKeyState struct {
	named   bool   // the key names the standby, written by this daemon
	cleared bool   // the key was removed since commits last waited
	from    string // the WAL position once commits began waiting
}

// nameSyncStandby writes the sync key naming the standby (SPEC §9 rule 3)
// once commits wait for it and it has flushed every commit acknowledged
// before they did: everything below the WAL position read right after the
// setting took effect.
func (d *Daemon) nameSyncStandby(ctx context.Context, conn *pgx.Conn) {
	if d.lead == nil || d.syncKey.named {
		return
	}
	_, held := d.lead.current()
	if held.Revision == 0 {
		return
	}
	cfg := d.conf()
	if d.syncKey.from == "" {
		if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_current_wal_lsn()::text").Scan(&d.syncKey.from); err != nil {
			return
		}
	}
	var flushed bool
	err := conn.QueryRow(ctx, `SELECT coalesce(bool_or(flush_lsn >= $1::pg_lsn), false) FROM pg_catalog.pg_stat_replication WHERE application_name = $2`,
		d.syncKey.from, cfg.PeerApplicationName()).Scan(&flushed)
	if err != nil || !flushed {
		return
	}
	if err := d.lead.c.SetSync(ctx, held, []string{cfg.Peer.Name}); err != nil {
		d.logger().Warn().Err(err).Msg("naming the synchronous standby in the quorum")
		return
	}
	from := d.syncKey.from
	d.syncKey = syncKeyState{named: true}
	d.logger().Info().Str("standby", cfg.Peer.Name).Str("flushed_from", from).Msg("the quorum names the synchronous standby: it may take over if this node is lost")
}

// clearSyncKey removes the sync key before commits stop waiting for the
// standby (SPEC §9 rule 3), and reports whether they may; without a quorum
// they may.
func (d *Daemon) clearSyncKey(ctx context.Context) bool {
	if d.lead == nil || d.syncKey.cleared {
		return true
	}
	_, held := d.lead.current()
	if held.Revision == 0 {
		// Not the key's holder (yet): it cannot write, nor may commits
		// stop waiting on its word.
		return false
	}
	if err := d.lead.c.ClearSync(ctx, held); err != nil {
		d.logger().Error().Err(err).Msg("removing the synchronous standby from the quorum; commits keep waiting for it")
		return false
	}
	d.syncKey = syncKeyState{cleared: true}
	d.logger().Warn().Str("standby", d.conf().Peer.Name).Msg("the quorum no longer names the synchronous standby")
	return true
}

// syncWanted decides the active's synchronous_standby_names from what it
// observes now (syncpolicy.Decide is the policy).
func (d *Daemon) syncWanted(ctx context.Context, conn *pgx.Conn) string {
	cfg := d.conf()
	var streaming bool
	var behind int64
	err := conn.QueryRow(ctx, `SELECT true, coalesce(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), flush_lsn), 0)::bigint
		FROM pg_catalog.pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`, cfg.PeerApplicationName()).Scan(&streaming, &behind)
	caughtUp := err == nil && streaming && behind <= cfg.Switchover.MaxLagBytes
	next, names, change := syncpolicy.Decide(d.sync, time.Now(), caughtUp, cfg.Replication.SyncDegradeAfter, pgutil.Ident(cfg.PeerApplicationName()))
	d.sync = next
	switch change {
	case syncpolicy.Resumed:
		d.logger().Warn().Str("standby", cfg.Peer.Name).Msg("synchronous replication resumed: the standby streams again")
	case syncpolicy.Suspended:
		d.logger().Error().Str("standby", cfg.Peer.Name).Dur("after", cfg.Replication.SyncDegradeAfter).Msg("synchronous replication suspended: the standby is gone; commits no longer wait for it")
	}
	return names
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
	return syncpolicy.Apply(ctx, conn, pgutil.Ident(cfg.PeerApplicationName()))
}
