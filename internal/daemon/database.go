package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/api"

	"github.com/pgswitch/pgswitch/internal/pgutil"
)

// dbView is the local database as last seen.
type dbView struct {
	reachable  bool
	clientMode string
	writeLSN   string
	err        string
	checkedAt  time.Time
}

// fresh: the view is recent enough to answer probes with.
func (v dbView) fresh() bool { return time.Since(v.checkedAt) < 5*time.Second }

// watchDatabase refreshes dbView every second over one connection.
func (d *Daemon) watchDatabase(ctx context.Context) error {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		v := dbView{checkedAt: time.Now()}
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if conn == nil || conn.IsClosed() {
			c, err := pgutil.Connect(qctx, d.cfg.Postgres.DSN, pgutil.Options{AppName: d.cfg.ApplicationName() + "_monitor"})
			if err == nil {
				conn = c
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
			}
		}
		cancel()
		d.mu.Lock()
		d.db = v
		d.mu.Unlock()
		select {
		case <-t.C:
		case <-d.dbKick:
		case <-ctx.Done():
			return nil
		}
	}
}

// watchPeer keeps the peer's status as last seen (a heartbeat).
func (d *Daemon) watchPeer(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := d.peer().Status(qctx)
		cancel()
		d.mu.Lock()
		v := d.peerView
		v.Name = d.cfg.Peer.Name
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
