package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/supervise"
)

// Health is nil while the local database answers.
func (d *Daemon) Health(ctx context.Context) error {
	d.mu.Lock()
	v := d.db
	d.mu.Unlock()
	if !v.fresh() {
		return errors.New("local database not checked recently")
	}
	if !v.reachable {
		return errors.New("local database unreachable: " + v.err)
	}
	return nil
}

// IsPrimary: ACTIVE and clients can write to the local database.
func (d *Daemon) IsPrimary(ctx context.Context) bool {
	st := d.state()
	d.mu.Lock()
	defer d.mu.Unlock()
	return handshake.WantOf(st).Backend == handshake.BackendPrimary &&
		d.db.fresh() && d.db.reachable && d.db.clientMode == string(handshake.ClientsWritable)
}

// IsStandby: STANDBY with the applier streaming and within max_lag_bytes.
func (d *Daemon) IsStandby(ctx context.Context) bool {
	if handshake.WantOf(d.state()).Backend != handshake.BackendReplica {
		return false
	}
	s, ok := d.applierStatus()
	return ok && s.Streaming && s.Fault == nil && s.LagBytes <= d.conf().Switchover.MaxLagBytes
}

// Status is the /v1/status document.
func (d *Daemon) Status(ctx context.Context) api.Status {
	rec := d.drv.Record()
	d.mu.Lock()
	v, pv, qv := d.db, d.peerView, d.quorum
	d.mu.Unlock()
	st := api.Status{
		Node: d.conf().Node.Name, State: string(rec.State), Epoch: rec.Epoch, SwitchID: rec.SwitchID,
		Reason: rec.Reason, Version: Version, Time: time.Now().UTC(), Faults: []api.Fault{},
		Database: api.Database{Reachable: v.reachable, ClientMode: v.clientMode, Error: v.err},
	}
	if handshake.WantOf(rec.State).Clients == handshake.ClientsWritable {
		// The monitor's view is up to supervision.interval old, while the
		// standby's replayed position is live: read the write position now,
		// so that a status taken after the standby's never shows the
		// standby ahead of the active.
		st.Database.WriteLSN = v.writeLSN
		if v.reachable {
			qctx, cancel := context.WithTimeout(ctx, time.Second)
			if lsn, err := d.localDB().WriteLSN(qctx); err == nil {
				st.Database.WriteLSN = lsn
			}
			cancel()
		}
	}
	st.Peer = &pv
	if qv != nil {
		q := *qv
		st.Quorum = &q
	}
	if dv := rec.Divergence; dv != nil {
		st.Divergence = &api.Divergence{Epoch: dv.Epoch, Transactions: dv.Transactions, Report: dv.Report}
	}
	st.LastSwitchover = d.drv.LastSwitchover()
	if !d.vip.Disabled() {
		st.VIP = &api.VIP{Address: d.vip.Address(), Interface: d.vip.Interface(), Held: d.vipHeld.Load()}
	}
	if handshake.WantOf(rec.State).Faulty {
		st.Faults = append(st.Faults, api.Fault{Reason: string(supervise.OfState(rec.State)), Detail: rec.Reason, Since: rec.UpdatedAt})
	}
	st.Faults = append(st.Faults, d.faults.Confirmed()...)
	if a, ok := d.applierStatus(); ok {
		r := &api.Replication{
			Streaming: a.Streaming, Slot: d.conf().SlotName(),
			ReceivedLSN: a.ReceivedLSN.String(), ReplayedLSN: a.AppliedLSN.String(), FlushedLSN: a.FlushedLSN.String(),
			PrimaryLSN: a.PrimaryLSN.String(), LagBytes: a.LagBytes, LagSeconds: a.LagSeconds,
			AppliedTxns: a.AppliedTxns, AppliedChanges: a.AppliedChanges, AppliedBytes: a.AppliedBytes, Sessions: a.Sessions,
		}
		if a.Fault != nil {
			r.Fault = a.Fault.Error()
		}
		st.Replication = r
	}
	return st
}
