package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/schema"
	"github.com/pgswitch/pgswitch/internal/state"
)

// divergenceRetry is how long an examination that could not finish waits
// before the next.
const divergenceRetry = 5 * time.Second

// considerDivergence starts, at most one at a time and at most every
// divergenceRetry, the examination of an old active behind the later epoch
// the quorum names (SPEC §9 rule 5).
func (d *Daemon) considerDivergence(epoch uint64) {
	l := d.lead
	rec := d.drv.Record()
	if rec.State != handshake.SelfFenced || epoch <= rec.Epoch ||
		(rec.Divergence != nil && rec.Divergence.Epoch == epoch) || time.Since(l.lastExamined) < divergenceRetry {
		return
	}
	if !l.examining.CompareAndSwap(false, true) {
		return
	}
	l.lastExamined = time.Now()
	if !d.goOwned(func() {
		defer l.examining.Store(false)
		ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
		defer cancel()
		if err := d.examineDivergence(ctx, epoch); err != nil {
			d.logger().Warn().Err(err).Uint64("epoch", epoch).Msg("comparing this node's transactions with the new active's; will try again")
		}
	}) {
		l.examining.Store(false)
	}
}

// examineDivergence works out exactly which of this node's committed
// transactions the new active never applied: those its slot for the new
// active still holds past the position the new active's origin recorded
// for this node. None: it follows the new active from its reverse slot, as
// STANDBY, without a re-copy. Some: they go to lost-<epoch>.jsonl in the
// state directory, the record says so, and the node stays SELF_FENCED
// until pgswitch rejoin.
func (d *Daemon) examineDivergence(ctx context.Context, epoch uint64) error {
	cfg := d.conf()
	peer := d.drv.PeerDB()
	applied, ok, err := peer.OriginPosition(ctx, cfg.PeerOriginName())
	if err != nil {
		return fmt.Errorf("the new active's origin for this node: %w", err)
	}
	if !ok {
		return fmt.Errorf("the new active %s has no position in origin %s", cfg.Peer.Name, cfg.PeerOriginName())
	}
	rev, found, err := peer.LookupSlot(ctx, cfg.SlotName())
	if err != nil {
		return fmt.Errorf("the new active's reverse slot: %w", err)
	}
	if !found {
		return fmt.Errorf("the new active %s has no slot %s for this node to follow from", cfg.Peer.Name, cfg.SlotName())
	}
	path := filepath.Join(cfg.Node.StateDir, fmt.Sprintf("lost-%d.jsonl", epoch))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("writing the lost-transaction report: %w", err)
	}
	defer os.Remove(tmp)
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	ack := "unknown"
	if cfg.Replication.Synchronous && cfg.Replication.SyncDegradeAfter == 0 {
		// Strict synchronous mode: a commit was acknowledged only once
		// the standby had flushed it, and the standby does not have it.
		ack = "never"
	}
	n, err := d.localDB().PeekLost(ctx, cfg.PeerSlotName(), cfg.Replication.Publication, applied, func(t replication.LostTxn) error {
		t.Acknowledged = ack
		return enc.Encode(t)
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("this node's transactions past %s: %w", applied, err)
	}
	if n == 0 {
		d.logger().Warn().Uint64("epoch", epoch).Str("applied", applied.String()).Str("reverse_lsn", rev.ConfirmedFlush.String()).
			Msg("the new active holds every transaction this node committed: following it")
		d.stepOwned(handshake.Event{Kind: handshake.EvNothingLost, Epoch: epoch, ReverseLSN: rev.ConfirmedFlush.String()})
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the lost-transaction report: %w", err)
	}
	if err := d.drv.SaveRecord(func(r *state.Record) {
		r.Divergence = &state.Divergence{Epoch: epoch, Transactions: n, Report: path}
	}); err != nil {
		return err
	}
	d.logger().Error().Uint64("epoch", epoch).Int("transactions", n).Str("report", path).Str("applied", applied.String()).
		Msg("this node committed transactions the new active never applied; it stays fenced until pgswitch rejoin")
	return nil
}

// rejoin is pgswitch rejoin (SPEC §9 rule 5): an old active that wrote a
// lost-transaction report re-copies from the new active the tables those
// transactions touched — no others — in one snapshot, records for each the
// snapshot's position (the applier skips what the copy holds), and follows
// the new active from its reverse slot. It refuses, changing nothing,
// while it is not safe to: no report, the new active not ACTIVE in the
// report's epoch (or, with a quorum, not the key's holder), no reverse slot.
func (d *Daemon) rejoin(ctx context.Context, _ struct{}) (api.PromoteResult, error) {
	start := time.Now()
	cfg := d.conf()
	rec := d.drv.Record()
	res := func(outcome, reason string, code int) (api.PromoteResult, error) {
		r := d.drv.Record()
		return api.PromoteResult{Outcome: outcome, Reason: reason, ExitCode: code, From: cfg.Node.Name, To: cfg.Peer.Name,
			Epoch: r.Epoch, TookMS: time.Since(start).Milliseconds()}, nil
	}
	dv := rec.Divergence
	if rec.State != handshake.SelfFenced || dv == nil {
		return res(api.PromoteRefused, fmt.Sprintf("%s is %s without a lost-transaction report: nothing to rejoin", cfg.Node.Name, rec.State), 1)
	}
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	st, err := d.peer.Status(qctx)
	cancel()
	switch {
	case err != nil:
		return res(api.PromoteRefused, fmt.Sprintf("the new active %s does not answer: %v", cfg.Peer.Name, err), 1)
	case st.State != string(handshake.Active) || st.Epoch != dv.Epoch:
		return res(api.PromoteRefused, fmt.Sprintf("%s is %s in epoch %d, not ACTIVE in the report's epoch %d", cfg.Peer.Name, st.State, st.Epoch, dv.Epoch), 1)
	}
	if d.lead != nil {
		l, err := d.lead.c.ReadLeader(ctx)
		if err != nil || !l.Present || l.Node != cfg.Peer.Name || uint64(l.Epoch) != dv.Epoch {
			return res(api.PromoteRefused, fmt.Sprintf("the leader key does not name %s in epoch %d (%+v, %v)", cfg.Peer.Name, dv.Epoch, l, err), 1)
		}
	}
	peer := d.drv.PeerDB()
	rev, found, err := peer.LookupSlot(ctx, cfg.SlotName())
	if err != nil || !found {
		return res(api.PromoteRefused, fmt.Sprintf("the new active has no slot %s for this node to follow from (%v)", cfg.SlotName(), err), 1)
	}
	tables, err := reportTables(dv.Report)
	if err != nil {
		return res(api.PromoteRefused, err.Error(), 1)
	}
	shapes, err := d.peerShapes(ctx, tables)
	if err != nil {
		return res(api.PromoteRefused, err.Error(), 1)
	}
	d.logger().Warn().Strs("tables", tables).Str("report", dv.Report).Msg("rejoin: re-copying the tables the lost transactions touched from the new active")
	point, rows, err := replication.Recopy(ctx, replication.RecopyOptions{SourceDSN: cfg.Postgres.PeerDSN, TargetDSN: cfg.Postgres.DSN,
		AppName: cfg.ApplicationName(), Slot: cfg.SlotName() + "_rejoin", Tables: shapes})
	if err != nil {
		return res(api.PromoteAborted, "re-copying: "+err.Error()+" (nothing changed here; run pgswitch rejoin again)", 1)
	}
	skip := map[string]string{}
	for _, t := range tables {
		skip[t] = point.String()
	}
	if err := d.drv.SaveRecord(func(r *state.Record) { r.Rejoin = &state.Rejoin{Epoch: dv.Epoch, SkipUntil: skip} }); err != nil {
		return res(api.PromoteAborted, err.Error(), 3)
	}
	acts, err := d.drv.Step(handshake.Event{Kind: handshake.EvRejoined, Epoch: dv.Epoch, ReverseLSN: rev.ConfirmedFlush.String(),
		Reason: "pgswitch rejoin"})
	if err != nil {
		return res(api.PromoteAborted, err.Error(), 3)
	}
	d.drv.Drive(ctx, acts)
	if err := d.drv.SaveRecord(func(r *state.Record) { r.Divergence = nil }); err != nil {
		return res(api.PromoteAborted, err.Error(), 3)
	}
	d.logger().Warn().Strs("tables", tables).Int64("rows", rows).Str("snapshot_lsn", point.String()).Str("reverse_lsn", rev.ConfirmedFlush.String()).
		Msg("rejoined: following the new active; the report stays for the operator")
	return res(api.PromoteDone, fmt.Sprintf("re-copied %d tables (%d rows): %s", len(tables), rows, strings.Join(tables, ", ")), 0)
}

// reportTables lists, in first-seen order, the tables a lost-transaction
// report's changes touched.
func reportTables(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the lost-transaction report: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	for sc.Scan() {
		var t replication.LostTxn
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			return nil, fmt.Errorf("the lost-transaction report %s: %w", path, err)
		}
		for _, c := range t.Changes {
			if !seen[c.Table] {
				seen[c.Table] = true
				out = append(out, c.Table)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the lost-transaction report: %w", err)
	}
	return out, nil
}

// peerShapes loads the new active's shapes of the replicated tables named.
func (d *Daemon) peerShapes(ctx context.Context, names []string) ([]schema.Shape, error) {
	cfg := d.conf()
	conn, err := pgutil.Connect(ctx, cfg.Postgres.PeerDSN, pgutil.Options{AppName: cfg.ApplicationName() + "_rejoin"})
	if err != nil {
		return nil, fmt.Errorf("connecting to the new active: %w", err)
	}
	defer conn.Close(context.Background())
	all, err := schema.Replicated(ctx, conn, cfg.Replication.Publication, cfg.Replication.Tables)
	if err != nil {
		return nil, err
	}
	byName := map[string]schema.Table{}
	for _, t := range all {
		byName[t.String()] = t
	}
	var out []schema.Shape
	for _, n := range names {
		t, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("%s, touched by a lost transaction, is not replicated by the new active", n)
		}
		shape, found, err := schema.Load(ctx, conn, t)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("%s does not exist on the new active", n)
		}
		out = append(out, shape)
	}
	return out, nil
}

// rejoinSkips are the re-copied tables' positions for the applier.
func (d *Daemon) rejoinSkips() map[string]replication.LSN {
	rj := d.drv.Record().Rejoin
	if rj == nil {
		return nil
	}
	out := map[string]replication.LSN{}
	for t, s := range rj.SkipUntil {
		if lsn, err := replication.ParseLSN(s); err == nil {
			out[t] = lsn
		}
	}
	return out
}

// clearRejoinSkips forgets the re-copied tables' positions once the
// applier has applied past all of them: nothing before them can come again.
func (d *Daemon) clearRejoinSkips() {
	skips := d.rejoinSkips()
	if len(skips) == 0 {
		return
	}
	s, ok := d.applierStatus()
	if !ok {
		return
	}
	for _, lsn := range skips {
		if s.AppliedLSN < lsn {
			return
		}
	}
	if err := d.drv.SaveRecord(func(r *state.Record) { r.Rejoin = nil }); err == nil {
		d.logger().Info().Str("applied", s.AppliedLSN.String()).Msg("rejoin: the applier is past every re-copied table's snapshot")
	}
}
