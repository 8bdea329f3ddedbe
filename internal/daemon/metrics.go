package daemon

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/supervise"
)

// collector reads the daemon at scrape time, so every series of one scrape
// describes the same moment.
type collector struct {
	d *Daemon

	state, epoch, dbUp, lagBytes, lagSeconds, fault, vipHeld *prometheus.Desc
	txns, changes, bytes, sessions, notFound, streaming      *prometheus.Desc
	lost                                                     *prometheus.Desc
}

var allStates = handshake.States

func newCollector(d *Daemon) *collector {
	node := prometheus.Labels{"node": d.conf().Node.Name}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("pgswitch_"+name, help, labels, node)
	}
	return &collector{
		d:          d,
		state:      desc("state", "1 for the node's current handshake state.", "state"),
		epoch:      desc("epoch", "Current epoch of the pair as this node knows it."),
		dbUp:       desc("database_up", "1 when the local database answers."),
		vipHeld:    desc("vip_held", "1 while this node holds the VIP (absent without vip.address)."),
		streaming:  desc("applier_streaming", "1 while the standby's applier streams from the active node."),
		lagBytes:   desc("replay_lag_bytes", "WAL bytes the active node has written that the standby has not applied."),
		lagSeconds: desc("replay_lag_seconds", "Age of the last applied source commit while the standby is behind."),
		fault:      desc("fault", "1 while a fault with this reason is present.", "reason"),
		txns:       desc("applied_transactions_total", "Source transactions applied, each as one local transaction."),
		changes:    desc("applied_changes_total", "Row changes (and truncates) applied."),
		bytes:      desc("applied_bytes_total", "Bytes of replication messages applied."),
		sessions:   desc("applier_sessions_total", "Replication sessions started (1 + reconnects)."),
		notFound:   desc("apply_rows_not_found_total", "UPDATE or DELETE that found no row on the standby (divergence)."),
		lost:       desc("lost_transactions", "Transactions this node committed as the active that the new active never applied (in the lost-transaction report)."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.vipHeld, c.state, c.epoch, c.dbUp, c.streaming, c.lagBytes, c.lagSeconds, c.fault,
		c.txns, c.changes, c.bytes, c.sessions, c.notFound, c.lost} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.Status(context.Background())
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	for _, s := range allStates {
		gauge(c.state, b2f(string(s) == st.State), string(s))
	}
	gauge(c.epoch, float64(st.Epoch))
	gauge(c.dbUp, b2f(st.Database.Reachable))
	if st.VIP != nil {
		gauge(c.vipHeld, b2f(st.VIP.Held))
	}
	present := map[string]bool{}
	for _, f := range st.Faults {
		present[f.Reason] = true
	}
	for _, r := range faultReasons {
		gauge(c.fault, b2f(present[r]), r)
	}
	if r := st.Replication; r != nil {
		gauge(c.streaming, b2f(r.Streaming))
		gauge(c.lagBytes, float64(r.LagBytes))
		gauge(c.lagSeconds, r.LagSeconds)
		counter(c.txns, float64(r.AppliedTxns))
		counter(c.changes, float64(r.AppliedChanges))
		counter(c.bytes, float64(r.AppliedBytes))
		counter(c.sessions, float64(r.Sessions))
	} else {
		gauge(c.streaming, 0)
		gauge(c.lagBytes, 0)
		gauge(c.lagSeconds, 0)
	}
	lost := 0
	if st.Divergence != nil {
		lost = st.Divergence.Transactions
	}
	gauge(c.lost, float64(lost))
	if a, ok := c.d.applierStatus(); ok {
		counter(c.notFound, float64(a.NotFound))
	}
}

// faultReasons is every reason exported by pgswitch_fault, each once.
var faultReasons = func() []string {
	out := make([]string, 0, len(supervise.All))
	for _, r := range supervise.All {
		out = append(out, string(r))
	}
	return out
}()

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
