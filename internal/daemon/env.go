package daemon

import (
	"context"
	"fmt"

	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/replication"
)

// env is the daemon as the switchover driver sees it (switchover.Env).
type env struct{ d *Daemon }

func (e env) Config() *config.Config                 { return e.d.conf() }
func (e env) Context() context.Context               { return e.d.ctx }
func (e env) Go(f func()) bool                       { return e.d.goOwned(f) }
func (e env) BindVIP(ctx context.Context) error      { return e.d.bindVIP(ctx) }
func (e env) ReleaseVIP(ctx context.Context) error   { return e.d.releaseVIP(ctx) }
func (e env) StartService(ctx context.Context) error { return e.d.startService(ctx) }
func (e env) StopService(ctx context.Context) error  { return e.d.stopService(ctx) }
func (e env) StopApplier()                           { e.d.stopApplier() }
func (e env) RefreshDB()                             { e.d.refreshDB() }
func (e env) StandbyFault() string                   { return e.d.standbyFault() }
func (e env) StrictSync(ctx context.Context) error   { return e.d.strictSync(ctx) }

func (e env) Applier() *replication.Applier {
	if run := e.d.currentApplier(); run != nil {
		return run.a
	}
	return nil
}

func (e env) Writable() (bool, string) {
	e.d.mu.Lock()
	db := e.d.db
	e.d.mu.Unlock()
	if !db.fresh() || !db.reachable || db.clientMode != "writable" {
		return false, fmt.Sprintf("%s %s", db.clientMode, db.err)
	}
	return true, ""
}

func (e env) KickLeader() {
	if e.d.leaderKick == nil {
		return
	}
	select {
	case e.d.leaderKick <- struct{}{}:
	default:
	}
}

func (e env) TakeLeaderKey(ctx context.Context, from uint64) error {
	return e.d.takeLeaderKey(ctx, from)
}

func (e env) PublishedSequences(ctx context.Context) (map[string]int64, error) {
	if e.d.lead == nil {
		return nil, nil
	}
	return e.d.lead.c.ReadSeq(ctx)
}
