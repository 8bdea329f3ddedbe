package daemon

import (
	"reflect"

	"github.com/pgswitch/pgswitch/internal/config"
)

// conf is the configuration in force.
func (d *Daemon) conf() *config.Config { return d.cfg.Load() }

// Reload takes in a new configuration (SIGHUP): the log level, the
// switchover thresholds, supervision, failover and the synchronous degrade
// time change at once; every other key keeps its value until a restart, and
// the log names those that differ.
func (d *Daemon) Reload(next *config.Config) {
	cur := *d.conf()
	applied := cur
	applied.Log.Level = next.Log.Level
	applied.Switchover = next.Switchover
	applied.Supervision = next.Supervision
	applied.Failover = next.Failover
	applied.Service.Timeout = next.Service.Timeout
	applied.Replication.SyncDegradeAfter = next.Replication.SyncDegradeAfter
	var restart []string
	for _, s := range []struct {
		name string
		a, b any
	}{
		{"node", cur.Node, next.Node}, {"peer", cur.Peer, next.Peer}, {"postgres", cur.Postgres, next.Postgres},
		{"vip", cur.VIP, next.VIP}, {"security", cur.Security, next.Security}, {"log.format", cur.Log.Format, next.Log.Format},
		{"replication", withoutDegrade(cur.Replication), withoutDegrade(next.Replication)},
		{"service", withoutTimeout(cur.Service), withoutTimeout(next.Service)},
	} {
		if !reflect.DeepEqual(s.a, s.b) {
			restart = append(restart, s.name)
		}
	}
	d.cfg.Store(&applied)
	if lvl, err := config.ParseLevel(applied.Log.Level); err == nil && d.level != nil {
		d.level.Set(lvl)
	}
	// Logged whatever the new level (zerolog.NoLevel passes the filter).
	ev := d.log.Log().Str("log_level", applied.Log.Level).Int64("max_lag_bytes", applied.Switchover.MaxLagBytes).
		Dur("catchup_timeout", applied.Switchover.CatchupTimeout).Dur("step_timeout", applied.Switchover.StepTimeout).
		Bool("failover_auto", applied.Failover.Auto)
	if len(restart) > 0 {
		ev = ev.Strs("need_restart", restart)
	}
	ev.Msg("configuration reloaded")
}

func withoutDegrade(r config.ReplicationConfig) config.ReplicationConfig {
	r.SyncDegradeAfter = 0
	return r
}

func withoutTimeout(s config.ServiceConfig) config.ServiceConfig {
	s.Timeout = 0
	return s
}
