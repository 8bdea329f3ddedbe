package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/sql"
)

// flushPair records that source position remote is applied by local
// commits that end at or before local.
type flushPair struct{ local, remote LSN }

// loop is the state of one session: one apply session, one walsender.
type loop struct {
	a    *Applier
	sess *applySession
	strm *stream

	rels       map[uint32]*relation
	relVersion int

	txn      *txnInfo // open source transaction, if any
	skipping bool     // the open transaction was applied before

	// group holds the whole source transactions queued into the open local
	// transaction, whose commit (apply_commit and Sync) is not queued yet.
	group      []*txnInfo
	groupBytes int
	groupSince time.Time

	queuedEnd    LSN // end of the last source transaction queued (in a group or committed)
	closedEnd    LSN // end of the last one whose local commit is queued: where the origin will be
	committedEnd LSN // end of the last one confirmed committed
	flushed      LSN // reported as durably applied
	received     LSN
	pairs        []flushPair
	needPos      bool // commits queued since the last positions query
	lastPos      time.Time

	lastFeedback time.Time
	sentWrite    LSN
	sentFlush    LSN
	sentApply    LSN

	primaryLSN atomic.Uint64

	// lastHeard is when the reader last received anything and pingedAt
	// when the apply loop last asked the walsender for a reply (unix
	// nanos): silence is the walsender's only when it was asked.
	lastHeard atomic.Int64
	pingedAt  atomic.Int64
	// writeErr is a failed status write: the session is over.
	writeErr error
	// deadlineMu orders the reader's read deadline with the interrupt
	// that ends it, so the interrupt is never overwritten.
	deadlineMu  sync.Mutex
	interrupted bool
}

func (a *Applier) runSession(ctx context.Context) error {
	sessCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()

	// Until it streams the session has nothing complete to finish: the
	// setup ends with the stop (a connection attempt to a host that went
	// silent would otherwise hold a takeover for its connect_timeout).
	setup := ctx

	sess, start, err := openSession(setup, a.cfg.LocalDSN, a.cfg.AppName, a.cfg.Origin, a.cfg.Synchronous, a.verifySystem)
	if err != nil {
		if _, ok := AsFault(err); ok {
			return err
		}
		return &Fault{Reason: FaultStandbyUnreachable, Detail: "cannot open the apply session", Err: err}
	}
	defer sess.close()

	rconn, err := pgutil.ConnectPg(setup, a.cfg.PeerDSN, pgutil.Options{AppName: a.cfg.AppName, Replication: true})
	if err != nil {
		return wrapPrimary(err, "cannot open a replication connection to the active node")
	}
	defer rconn.Close(context.Background())
	defer a.cutAfterGrace(ctx, sess.conn, rconn)()
	if a.cfg.VerifySystem != nil {
		ident, err := pglogrepl.IdentifySystem(setup, rconn)
		if err != nil {
			return wrapPrimary(err, "cannot identify the active node's database")
		}
		if err := a.verifySystem("peer", ident.SystemID); err != nil {
			return err
		}
	}
	if err := checkSlot(setup, rconn, a.cfg.Slot); err != nil {
		return err
	}
	strm, err := startStream(setup, rconn, a.cfg.Slot, a.cfg.Publication, start)
	if err != nil {
		if pgutil.SQLState(err) == pgutil.ObjectInUse {
			// A walsender of this node's previous session (a killed
			// daemon) may not have noticed yet that its client is gone.
			if a.endStaleWalsender(setup) {
				return &Fault{Reason: FaultStream, Detail: "ended the walsender of a previous session; retrying", Err: err}
			}
			return &Fault{Reason: FaultSlotInUse, Detail: fmt.Sprintf("slot %s is in use by another consumer", a.cfg.Slot), Err: err}
		}
		return wrapPrimary(err, "cannot start streaming")
	}

	l := &loop{a: a, sess: sess, strm: strm, rels: make(map[uint32]*relation),
		queuedEnd: start, closedEnd: start, committedEnd: start, flushed: start, received: start}
	a.update(func(s *Status) {
		s.Streaming = true
		s.Sessions++
		// Streaming again clears a fault of the connection; a fault of the
		// data (a missing table, a value that cannot be stored) stays until
		// a transaction applies.
		if s.Fault != nil && s.Fault.connection() {
			s.Fault = nil
		}
		s.AppliedLSN, s.FlushedLSN = max(s.AppliedLSN, start), max(s.FlushedLSN, start)
	})
	a.log.Info().Str("lsn", start.String()).Msg("streaming from the active node")

	g, gctx := errgroup.WithContext(sessCtx)
	g.Go(func() error { return l.pollPrimary(gctx) })
	g.Go(func() error {
		defer cancel()
		return l.run(ctx, gctx)
	})
	err = g.Wait()
	if ctx.Err() != nil || errors.Is(err, errStopped) {
		return nil
	}
	if f, ok := AsFault(err); ok && !f.connection() {
		// A fault of the data, possibly inside a group: the next session
		// applies everything received so far one source transaction per
		// local transaction, so that the fault names the one that fails
		// and the ones before it commit.
		a.soloUntil.Store(uint64(l.received))
	}
	return err
}

// cutAfterGrace watches for the stop (ctx) and, if the session has not
// ended StopGrace later, cuts both connections: their reads run without a
// context (the session finishes what is complete after a stop), so a
// backend that never answers would otherwise hold the stop forever. The
// returned function ends the watch and waits for it.
func (a *Applier) cutAfterGrace(ctx context.Context, conns ...*pgconn.PgConn) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(a.cfg.StopGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			a.log.Warn().Dur("grace", a.cfg.StopGrace).Msg("the apply session did not end after the stop: cutting its connections")
			for _, c := range conns {
				_ = c.Conn().SetDeadline(time.Now())
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// verifySystem lets the configuration judge a system identifier.
func (a *Applier) verifySystem(which, id string) error {
	if a.cfg.VerifySystem == nil {
		return nil
	}
	if err := a.cfg.VerifySystem(which, id); err != nil {
		return &Fault{Reason: FaultWrongDatabase, Detail: err.Error(), Err: err}
	}
	return nil
}

// endStaleWalsender ends the walsender that holds this node's slot when it
// serves this node's own application_name (an earlier session of this
// applier); a foreign consumer is left alone.
func (a *Applier) endStaleWalsender(ctx context.Context) bool {
	conn, err := pgutil.Connect(ctx, a.cfg.PeerDSN, pgutil.Options{AppName: a.cfg.AppName + "_admin"})
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	var ended bool
	err = conn.QueryRow(ctx, `SELECT coalesce(bool_and(pg_catalog.pg_terminate_backend(s.active_pid, 5000)), false)
		FROM pg_catalog.pg_replication_slots s JOIN pg_catalog.pg_stat_activity a ON a.pid = s.active_pid
		WHERE s.slot_name = $1 AND a.application_name = $2`, a.cfg.Slot, a.cfg.AppName).Scan(&ended)
	if err != nil || !ended {
		return false
	}
	a.log.Warn().Str("slot", a.cfg.Slot).Msg("ended the walsender of an earlier session of this applier")
	return true
}

// checkSlot makes a missing slot a named fault rather than a stream error.
func checkSlot(ctx context.Context, conn *pgconn.PgConn, slot string) error {
	q := strings.ReplaceAll(sql.Query("slot_info"), "$1", "'"+strings.ReplaceAll(slot, "'", "''")+"'")
	res, err := conn.Exec(ctx, q).ReadAll()
	if err != nil {
		return wrapPrimary(err, "cannot look up the replication slot")
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		return &Fault{Reason: FaultMissingSlot, Detail: fmt.Sprintf("replication slot %s does not exist on the active node", slot)}
	}
	return nil
}

// pollPrimary keeps the primary's current WAL position for the lag figures.
func (l *loop) pollPrimary(ctx context.Context) error {
	var conn *pgconn.PgConn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	t := time.NewTicker(l.a.cfg.LagPoll)
	defer t.Stop()
	for {
		if conn == nil || conn.IsClosed() {
			c, err := pgutil.ConnectPg(ctx, l.a.cfg.PeerDSN, pgutil.Options{AppName: l.a.cfg.AppName + "_lag"})
			if err == nil {
				conn = c
			}
		}
		if conn != nil {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			res, err := conn.Exec(qctx, sql.Query("current_wal_lsn")).ReadAll()
			cancel()
			if err == nil && len(res) == 1 && len(res[0].Rows) == 1 {
				if lsn, err := pglogrepl.ParseLSN(string(res[0].Rows[0][0])); err == nil {
					l.primaryLSN.Store(uint64(lsn))
				}
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// run is the apply loop. A reader goroutine (readStream) parses the
// walsender's messages onto a short channel, so the stream is drained
// while the local server works; this goroutine applies them. When nothing
// more has arrived and no source transaction is open, it sends what is
// queued at once. It returns errStopped when stop ends (after committing
// what is complete and reporting it), or the first failure.
func (l *loop) run(stop, ctx context.Context) error {
	batches := make(chan batch, queueBatches)
	budget := semaphore.NewWeighted(queueBytes)
	var readErr error
	read := make(chan struct{})
	rctx, cancelRead := context.WithCancel(ctx)
	l.lastHeard.Store(time.Now().UnixNano())
	go func() {
		defer close(read)
		readErr = l.readStream(rctx, batches, budget)
	}()
	defer func() {
		cancelRead()
		// Interrupt a receive in progress; the session is over.
		l.deadlineMu.Lock()
		l.interrupted = true
		_ = l.strm.conn.Conn().SetReadDeadline(time.Now())
		l.deadlineMu.Unlock()
		<-read
	}()
	tick := time.NewTicker(l.a.cfg.FlushPoll)
	defer tick.Stop()
	var evs []event // of the batch taken, those not handled yet
	for {
		if stop.Err() != nil {
			return l.finish()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if l.writeErr != nil {
			return wrapPrimary(l.writeErr, "cannot send standby status")
		}
		if len(evs) == 0 {
			var b batch
			var ok bool
			select {
			case b, ok = <-batches:
			default:
				// Nothing more is waiting: the open group commits now,
				// so a transaction that arrives alone travels alone.
				if l.txn == nil && len(l.group) > 0 {
					l.closeGroup()
				}
				if len(l.sess.pending) > 0 && l.txn == nil {
					if err := l.roundTrip(); err != nil {
						return err
					}
					continue
				}
				select {
				case b, ok = <-batches:
				case <-tick.C:
					if err := l.idle(); err != nil {
						return err
					}
					continue
				case <-stop.Done():
					continue
				case <-ctx.Done():
					continue
				}
			}
			if !ok {
				<-read
				if stop.Err() != nil {
					return l.finish()
				}
				return wrapPrimary(readErr, "the replication stream broke")
			}
			budget.Release(b.bytes)
			evs = b.events
		}
		ev := evs[0]
		evs = evs[1:]
		if err := l.handle(ev); err != nil {
			return err
		}
		// Batches stay small, so the walsender hears of progress often;
		// the server applies one while the next is prepared.
		if l.sess.queued >= l.a.cfg.MaxBatchBytes || len(l.sess.pending)-l.sess.sent >= 2000 {
			if err := l.cycle(true); err != nil {
				return err
			}
		}
	}
}

// batch is what the reader hands over at once: the messages that had
// arrived together (one wake-up of the apply loop for all of them).
type batch struct {
	events []event
	bytes  int64 // counted against the queue's byte budget
}

// The queue between the reader and the apply loop is bounded by count and
// by bytes, so memory stays bounded whatever the rows hold.
const (
	queueBatches = 16
	batchEvents  = 64
	queueBytes   = 8 << 20
)

// readStream receives the stream until ctx ends or it fails, and closes
// batches. A batch ends when nothing more is buffered, or at batchEvents
// messages or a quarter of the byte budget. The apply loop writes standby
// status on the same connection meanwhile: a write does not touch what a
// receive uses.
func (l *loop) readStream(ctx context.Context, batches chan<- batch, budget *semaphore.Weighted) error {
	defer close(batches)
	for {
		var b batch
		// The first receive of a batch is the one that waits for the
		// network; it wakes every third of ReceiveTimeout to judge the
		// silence.
		l.armRead()
		for {
			ev, err := l.strm.receive()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if pgconn.Timeout(err) {
					if err := l.silence(); err != nil {
						return err
					}
					l.armRead()
					continue
				}
				return err
			}
			l.lastHeard.Store(time.Now().UnixNano())
			b.events = append(b.events, ev)
			b.bytes += int64(ev.size)
			if len(b.events) == batchEvents || b.bytes >= queueBytes/4 || !l.strm.buffered() {
				break
			}
		}
		// One batch larger than the whole budget passes alone.
		b.bytes = min(b.bytes, queueBytes)
		if err := budget.Acquire(ctx, b.bytes); err != nil {
			return nil
		}
		select {
		case batches <- b:
		case <-ctx.Done():
			return nil
		}
	}
}

// finish commits what is complete, reports it and ends the session.
func (l *loop) finish() error {
	// Bound the last round trip: the database may be gone.
	_ = l.sess.conn.Conn().SetDeadline(time.Now().Add(5 * time.Second))
	if l.txn == nil && len(l.group) > 0 {
		l.closeGroup()
	}
	// With a source transaction open the group cannot commit: it is left
	// uncommitted (the origin with it) and streamed again next time.
	if l.txn == nil && !l.a.cfg.Synchronous {
		// Flush the local WAL up to the last applied commit, so that the
		// final feedback can report everything applied as durable.
		l.sess.execSQL("SELECT pg_catalog.pg_replication_origin_session_progress(true)", expectation{kind: expOther})
		l.sess.pipe.SendPipelineSync()
		l.sess.pending = append(l.sess.pending, expectation{kind: expSync})
		l.sess.unsynced = false
		l.sess.positions()
		l.needPos, l.lastPos = false, time.Now()
	}
	if err := l.roundTrip(); err != nil {
		return err
	}
	l.feedback(false, true, false)
	l.a.log.Debug().Str("lsn", l.committedEnd.String()).Msg("apply session ended")
	return errStopped
}

// idle runs on the ticker when nothing waits: learn the local flush
// position while commits await it, and keep the walsender informed.
func (l *loop) idle() error {
	if (len(l.pairs) > 0 || l.needPos) && l.txn == nil && len(l.group) == 0 && !l.a.cfg.Synchronous {
		l.sess.positions()
		l.needPos, l.lastPos = false, time.Now()
		if err := l.roundTrip(); err != nil {
			return err
		}
	}
	l.feedback(false, false, false)
	l.ping()
	l.publish()
	return nil
}

// ping asks the walsender for a reply once nothing has been heard for a
// third of ReceiveTimeout (and not since the last ping): a walsender that
// hears from us regularly sends no keepalives of its own, so silence alone
// would not tell an idle primary from a lost one (PostgreSQL's walreceiver
// pings the same way).
func (l *loop) ping() {
	heard := l.lastHeard.Load()
	if time.Since(time.Unix(0, heard)) < l.a.cfg.ReceiveTimeout/3 || l.pingedAt.Load() > heard {
		return
	}
	if l.feedback(false, true, true) {
		l.pingedAt.Store(time.Now().UnixNano())
	}
}

// armRead sets the reader's next wake-up, unless the session is being
// interrupted (whose deadline must stay).
func (l *loop) armRead() {
	l.deadlineMu.Lock()
	defer l.deadlineMu.Unlock()
	if !l.interrupted {
		_ = l.strm.conn.Conn().SetReadDeadline(time.Now().Add(l.a.cfg.ReceiveTimeout / 3))
	}
}

// silence judges a wait with nothing received: the walsender is lost when
// it was asked for a reply and has not answered within two thirds of
// ReceiveTimeout. Without a ping (the apply loop is busy with a long
// commit and asked nothing) the silence is ours, and the wait goes on.
func (l *loop) silence() error {
	heard, pinged := l.lastHeard.Load(), l.pingedAt.Load()
	if pinged <= heard {
		return nil
	}
	if waited := time.Since(time.Unix(0, pinged)); waited >= l.a.cfg.ReceiveTimeout-l.a.cfg.ReceiveTimeout/3 {
		return fmt.Errorf("the walsender has not answered a ping for %s, nor sent anything for %s (replication receive timeout %s)",
			waited.Round(time.Millisecond), time.Since(time.Unix(0, heard)).Round(time.Millisecond), l.a.cfg.ReceiveTimeout)
	}
	return nil
}

func (l *loop) handle(ev event) error {
	if ev.msg == nil { // keepalive
		l.received = max(l.received, ev.walEnd)
		if ev.reply {
			l.feedback(false, true, false)
		}
		return nil
	}
	l.received = max(l.received, ev.walStart)
	switch m := ev.msg.(type) {
	case *pglogrepl.BeginMessage:
		if l.txn != nil {
			return &Fault{Reason: FaultStream, Detail: fmt.Sprintf("BEGIN at %s inside an open transaction", m.FinalLSN)}
		}
		l.txn = &txnInfo{xid: m.Xid, finalLSN: m.FinalLSN, commitTime: m.CommitTime}
		// Commits arrive in order: a commit record that starts before
		// the end of one already queued was applied before.
		l.skipping = m.FinalLSN < l.queuedEnd
	case *pglogrepl.OriginMessage:
		// pgoutput sends an origin only for a transaction that was applied
		// under a replication origin. On the active that is its applier's
		// work from the time it was the standby: changes of this node
		// coming back. Never apply them; the transaction is refused whole.
		if l.txn != nil && !l.skipping {
			return &Fault{Reason: FaultOwnChanges, Detail: fmt.Sprintf(
				"the transaction ending at %s came to the active from replication origin %q (this node's own changes): the slot %s starts before the active's switch-in; drop it and let the next switch-in create it afresh",
				m.CommitLSN, m.Name, l.a.cfg.Slot)}
		}
	case *pglogrepl.RelationMessage:
		if old, ok := l.rels[m.RelationID]; ok && !old.internal {
			l.sess.forget(m.RelationID)
		}
		l.relVersion++
		l.rels[m.RelationID] = newRelation(m, l.relVersion)
	case *pglogrepl.InsertMessage:
		return l.change(m.RelationID, kindInsert, nil, m.Tuple, ev.size)
	case *pglogrepl.UpdateMessage:
		return l.change(m.RelationID, kindUpdate, m.OldTuple, m.NewTuple, ev.size)
	case *pglogrepl.DeleteMessage:
		return l.change(m.RelationID, kindDelete, m.OldTuple, nil, ev.size)
	case *pglogrepl.TruncateMessage:
		return l.truncate(m)
	case *pglogrepl.LogicalDecodingMessage:
		if l.txn != nil && !l.skipping && m.Transactional && m.Prefix == "pgswitch" {
			l.txn.marker = string(m.Content)
		}
	case *pglogrepl.CommitMessage:
		return l.commit(m)
	}
	return nil
}

func (l *loop) change(relID uint32, kind stmtKind, oldT, newT *pglogrepl.TupleData, size int) error {
	if l.txn == nil {
		return &Fault{Reason: FaultStream, Detail: "a change outside a transaction"}
	}
	if l.skipping {
		return nil
	}
	r, ok := l.rels[relID]
	if !ok {
		return &Fault{Reason: FaultStream, Detail: fmt.Sprintf("a change for relation %d before its description", relID)}
	}
	if r.internal || l.copied(r) {
		return nil
	}
	key, params, err := shape(r, kind, oldT, newT)
	if err != nil {
		return &Fault{Reason: FaultNoIdentity, Detail: err.Error()}
	}
	name := l.sess.statement(r, key)
	e := expectation{kind: expDML, rel: r, txn: l.txn}
	if kind != kindInsert {
		e.kind = expRowChange
	}
	l.sess.exec(name, params, e)
	l.txn.changes++
	l.txn.bytes += size
	return nil
}

func (l *loop) truncate(m *pglogrepl.TruncateMessage) error {
	if l.txn == nil || l.skipping {
		return nil
	}
	var rels []*relation
	for _, id := range m.RelationIDs {
		r, ok := l.rels[id]
		if !ok {
			return &Fault{Reason: FaultStream, Detail: fmt.Sprintf("TRUNCATE of relation %d before its description", id)}
		}
		if !r.internal && !l.copied(r) {
			rels = append(rels, r)
		}
	}
	if len(rels) == 0 {
		return nil
	}
	l.sess.execSQL(truncateSQL(rels, m.Option), expectation{kind: expOther, rel: rels[0], txn: l.txn})
	l.txn.changes++
	return nil
}

func (l *loop) commit(m *pglogrepl.CommitMessage) error {
	t := l.txn
	if t == nil {
		return &Fault{Reason: FaultStream, Detail: fmt.Sprintf("COMMIT at %s without BEGIN", m.CommitLSN)}
	}
	l.txn = nil
	l.received = max(l.received, m.TransactionEndLSN)
	if l.skipping || (t.changes == 0 && t.marker == "") {
		return nil
	}
	t.endLSN, t.commitTime = m.TransactionEndLSN, m.CommitTime
	if len(l.group) == 0 {
		l.groupSince = time.Now()
	}
	l.group = append(l.group, t)
	l.groupBytes += t.bytes
	l.queuedEnd = t.endLSN
	l.needPos = true
	if !l.mayGrow(t) {
		l.closeGroup()
	}
	return nil
}

// mayGrow says whether the open group may take the next source
// transaction after t, should one be waiting already: within the bounds of
// count, bytes and age, and not while retrying one by one after a fault.
func (l *loop) mayGrow(t *txnInfo) bool {
	c := l.a.cfg
	return len(l.group) < c.MaxGroupTxns && l.groupBytes < c.MaxGroupBytes &&
		time.Since(l.groupSince) < c.MaxGroupDelay && t.finalLSN >= LSN(l.a.soloUntil.Load())
}

// closeGroup queues the commit of the open group: the origin moves from
// where the previous local commit left it to the end of the group's last
// source transaction, in the same local transaction as their data.
func (l *loop) closeGroup() {
	l.sess.commit(l.group, l.closedEnd)
	l.closedEnd = l.queuedEnd
	l.group, l.groupBytes = nil, 0
}

// roundTrip sends what is queued, reads every result and reports progress.
func (l *loop) roundTrip() error { return l.cycle(false) }

// cycle sends what is queued and reports progress; with overlap it reads
// only the results of the previous batch, so that the server applies one
// batch while the next is being prepared.
func (l *loop) cycle(overlap bool) error {
	// The local flush position is asked for at most every FlushPoll: the
	// WAL writer flushes asynchronous commits only every wal_writer_delay
	// anyway, and the query is a statement of its own for the server.
	if l.txn == nil && len(l.group) == 0 && l.needPos && !l.a.cfg.Synchronous && time.Since(l.lastPos) >= l.a.cfg.FlushPoll {
		l.sess.positions()
		l.needPos, l.lastPos = false, time.Now()
	}
	var res results
	var err error
	if overlap {
		res, err = l.sess.overlap()
	} else {
		res, err = l.sess.roundTrip()
	}
	l.account(res)
	if err != nil {
		return err
	}
	l.feedback(len(res.committed) > 0, false, false)
	l.publish()
	return nil
}

// account takes in what a round trip committed, even when it then failed.
func (l *loop) account(res results) {
	var bytes, changes int
	before := l.committedEnd
	for i, t := range res.committed {
		l.committedEnd = t.endLSN
		if i < res.posAfter {
			before = t.endLSN
		}
		bytes += t.bytes
		changes += t.changes
	}
	if l.a.cfg.Synchronous {
		// synchronous_commit = on: each commit was flushed before its Sync.
		l.flushed = max(l.flushed, l.committedEnd)
	} else if res.havePos {
		// The positions query ran after the commits before it, and only
		// those: its insert position covers them.
		l.pairs = append(l.pairs, flushPair{local: res.localLSN, remote: before})
	}
	if res.havePos {
		n := 0
		for _, p := range l.pairs {
			if p.local <= res.flushLSN {
				l.flushed = max(l.flushed, p.remote)
				n++
			} else {
				break
			}
		}
		l.pairs = l.pairs[n:]
	}
	if len(res.notFound) > 0 {
		l.a.log.Error().Strs("changes", res.notFound).Msg("UPDATE or DELETE found no row on the standby: the nodes' data differ")
	}
	if len(res.committed) == 0 && len(res.notFound) == 0 {
		return
	}
	last := res.committed
	l.a.update(func(s *Status) {
		s.AppliedTxns += uint64(len(last))
		s.AppliedGroups += uint64(res.groups)
		s.LargestGroup = max(s.LargestGroup, res.largest)
		s.AppliedChanges += uint64(changes)
		s.AppliedBytes += uint64(bytes)
		s.NotFound += uint64(len(res.notFound))
		if len(res.notFound) > 0 {
			s.Fault = &Fault{Reason: FaultDivergence, Detail: fmt.Sprintf("UPDATE/DELETE found no row on the standby: %s", res.notFound[0])}
		} else if s.Fault != nil && s.Fault.Reason != FaultDivergence {
			s.Fault = nil
		}
		for _, t := range last {
			s.LastCommit = t.commitTime
			if t.marker != "" {
				s.Markers = append(s.Markers, Marker{Content: t.marker, EndLSN: t.endLSN})
				if len(s.Markers) > 8 {
					s.Markers = s.Markers[1:]
				}
			}
		}
	})
}

// caughtUp: nothing received is waiting to be applied or flushed.
func (l *loop) caughtUp() bool {
	return l.txn == nil && len(l.group) == 0 && len(l.sess.pending) == 0 && len(l.pairs) == 0 &&
		l.flushed >= l.queuedEnd
}

// feedback sends standby status to the walsender when the positions moved,
// when forced, or at the feedback interval; reply asks the walsender to
// answer at once (a ping).
func (l *loop) feedback(moved, force, reply bool) (sent bool) {
	write, flush, apply := l.received, l.flushed, l.committedEnd
	if l.caughtUp() {
		// Everything received is applied and durable: report it all, so an
		// idle slot keeps advancing past WAL that carried nothing for us.
		flush, apply = write, write
	}
	if flush == 0 {
		return false // nothing is known yet; never let pglogrepl substitute write
	}
	changed := write != l.sentWrite || flush != l.sentFlush || apply != l.sentApply
	if !force && !(changed && (moved || time.Since(l.lastFeedback) >= 100*time.Millisecond)) &&
		time.Since(l.lastFeedback) < l.a.cfg.FeedbackInterval {
		return false
	}
	_ = l.strm.conn.Conn().SetWriteDeadline(time.Now().Add(l.a.cfg.ReceiveTimeout))
	if err := l.strm.sendStatus(write, flush, apply, reply); err != nil {
		l.a.log.Warn().Err(err).Msg("sending standby status failed")
		l.writeErr = err
		return false
	}
	l.sentWrite, l.sentFlush, l.sentApply = write, flush, apply
	l.lastFeedback = time.Now()
	return true
}

// publish refreshes the lag figures in Status.
func (l *loop) publish() {
	primary := LSN(l.primaryLSN.Load())
	applied := l.committedEnd
	if l.caughtUp() {
		applied = max(applied, l.received)
	}
	var lagBytes int64
	if primary > applied {
		lagBytes = int64(primary - applied)
	}
	// Behind means received changes wait to be applied (not merely to be
	// flushed locally).
	behind := l.txn != nil || len(l.group) > 0 || len(l.sess.pending) > 0
	l.a.update(func(s *Status) {
		s.ReceivedLSN, s.AppliedLSN, s.FlushedLSN, s.PrimaryLSN = l.received, applied, l.flushed, primary
		s.LagBytes = lagBytes
		s.LagSeconds = 0
		if behind && !s.LastCommit.IsZero() {
			s.LagSeconds = time.Since(s.LastCommit).Seconds()
		}
	})
}

// copied says whether a change to r in the open transaction is already in
// a re-copy of r (Config.SkipUntil): the transaction commits before the
// copy's snapshot.
func (l *loop) copied(r *relation) bool {
	until, ok := l.a.cfg.SkipUntil[r.String()]
	return ok && l.txn.finalLSN < until
}
