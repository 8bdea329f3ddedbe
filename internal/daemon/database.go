package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/state"
)

// dbView is the local database as last seen.
type dbView struct {
	reachable  bool
	clientMode string
	writeLSN   string
	err        string
	commitErr  string // the commit probe's error (the active only)
	dataDir    string
	// wrongDB is set when the DSN reaches a database cluster other than
	// the one recorded at init: the daemon must not act on it.
	wrongDB   string
	checkedAt time.Time
}

// fresh: the view is recent enough to answer probes with.
func (v dbView) fresh() bool { return time.Since(v.checkedAt) < 5*time.Second }

// watchDatabase refreshes dbView every supervision.interval over one
// connection. On the active it also commits a tiny transaction (an xid and
// a commit record, nothing else; synchronous_commit = local), because a
// database can answer queries and still be unable to commit.
func (d *Daemon) watchDatabase(ctx context.Context) error {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	var dataDir string
	for {
		v := dbView{checkedAt: time.Now(), dataDir: dataDir}
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if conn == nil || conn.IsClosed() {
			c, err := pgutil.Connect(qctx, d.conf().Postgres.DSN, pgutil.Options{AppName: d.conf().ApplicationName() + "_monitor", Writable: true})
			if err == nil {
				if err := d.verifyLocalDB(qctx, c); err != nil {
					v.err = err.Error()
					if errors.Is(err, pgutil.ErrWrongDatabase) {
						v.wrongDB = err.Error()
					}
					c.Close(context.Background())
				} else {
					conn = c
				}
			} else {
				v.err = err.Error()
			}
		}
		if conn != nil {
			err := conn.QueryRow(qctx, "SELECT pgswitch.client_mode(), pg_catalog.pg_current_wal_lsn()::text").Scan(&v.clientMode, &v.writeLSN)
			if err != nil {
				v.err = err.Error()
				if !errors.Is(err, context.Canceled) {
					conn.Close(context.Background())
					conn = nil
				}
			} else {
				v.reachable = true
				if dataDir == "" {
					_ = conn.QueryRow(qctx, "SELECT current_setting('data_directory')").Scan(&dataDir)
					v.dataDir = dataDir
				}
				if handshake.WantOf(d.state()).CommitProbe {
					if _, err := conn.Exec(qctx, "BEGIN; SET LOCAL synchronous_commit = local; SELECT pg_catalog.pg_current_xact_id(); COMMIT"); err != nil {
						v.commitErr = err.Error()
						_, _ = conn.Exec(context.Background(), "ROLLBACK")
					}
				}
			}
		}
		cancel()
		d.mu.Lock()
		d.db = v
		d.mu.Unlock()
		select {
		case <-time.After(d.conf().Supervision.Interval):
		case <-d.dbKick:
		case <-ctx.Done():
			return nil
		}
	}
}

// verifyLocalDB compares the system identifier of a new connection with the
// one recorded at init, and records it when the record predates the
// identifiers.
func (d *Daemon) verifyLocalDB(ctx context.Context, conn *pgx.Conn) error {
	expected := d.drv.Record().LocalSystemID
	found, err := pgutil.VerifySystemID(ctx, conn, d.conf().Postgres.DSN, "local", expected)
	if err != nil || expected != "" {
		return err
	}
	if err := d.drv.SaveRecord(func(r *state.Record) { r.LocalSystemID = found }); err != nil {
		return fmt.Errorf("recording the local system identifier: %w", err)
	}
	return nil
}

// watchPeer keeps the peer's status as last seen (a heartbeat).
func (d *Daemon) watchPeer(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := d.peer.Status(qctx)
		cancel()
		d.mu.Lock()
		v := d.peerView
		v.Name = d.conf().Peer.Name
		if err != nil {
			v.Reachable, v.Error = false, err.Error()
		} else {
			v = api.PeerView{Name: st.Node, Reachable: true, State: st.State, Epoch: st.Epoch, SeenAt: time.Now().UTC()}
		}
		d.peerView = v
		d.mu.Unlock()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// watchQuorum reads the pair's keys in etcd every 2 s, for status (with
// quorum.endpoints).
func (d *Daemon) watchQuorum(ctx context.Context) error {
	if d.lead == nil {
		return nil
	}
	c := d.lead.c
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		v := &api.Quorum{}
		st, err := c.ReadLeader(ctx)
		if err == nil {
			var names []string
			names, err = c.ReadSync(ctx)
			v.Sync = names
		}
		if err != nil {
			v.Error = err.Error()
		} else {
			v.Reachable, v.SeenAt = true, time.Now().UTC()
			if st.Present {
				v.Holder, v.Epoch, v.LeaseLeftMS = st.Node, st.Epoch, st.TTLLeft.Milliseconds()
			}
		}
		d.mu.Lock()
		d.quorum = v
		d.mu.Unlock()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}
