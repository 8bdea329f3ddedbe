package replication

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/sql"
)

// expectation says what the result of one pipelined request means.
type expectation struct {
	kind  expKind
	rel   *relation  // for DML: which table (divergence reports)
	txn   *txnInfo   // for DML: the source transaction it belongs to
	group []*txnInfo // for expSync: the source transactions the local commit applies
	label string     // for expPrepare: the statement
}

type expKind byte

const (
	expPrepare   expKind = iota
	expDML               // INSERT: any result is fine
	expRowChange         // UPDATE/DELETE: must touch one row
	expOther             // TRUNCATE, apply_commit: no rows expected
	expSync              // end of an implicit transaction
	expPositions         // the wal_positions query
)

// txnInfo describes one source transaction on its way to a local commit.
type txnInfo struct {
	xid        uint32
	finalLSN   pglogrepl.LSN // commit record position (Begin)
	endLSN     pglogrepl.LSN // end of the commit record (Commit)
	commitTime time.Time
	bytes      int
	changes    int
	marker     string // content of a pgswitch logical message, if any
}

// String names the source transaction as PostgreSQL's apply worker does in
// its error context: its xid and the LSN its commit record starts at (the
// one ALTER SUBSCRIPTION ... SKIP takes).
func (t *txnInfo) String() string {
	return fmt.Sprintf("source transaction %d finished at %s", t.xid, t.finalLSN)
}

// applySession is one connection to the local database, bound to the
// replication origin, with an open pipeline that statements stream into.
//
// Every group of source transactions (one, or several consecutive whole ones
// while a backlog waits) becomes one implicit transaction of the extended
// protocol: their statements, then pgswitch.apply_commit with the last one's
// end, then Sync. The server commits at Sync. Should a group fail, the server
// still runs the ones queued after it, but each of those fails in
// apply_commit because the origin is not where it expects: nothing commits
// out of order.
type applySession struct {
	conn     *pgconn.PgConn
	pipe     *pgconn.Pipeline
	stmts    map[stmtKey]string
	nextStmt int
	pending  []expectation // requests sent whose results are not read yet
	unsynced bool          // requests queued since the last Sync or flush request
	sent     int           // of pending, how many were written to the server
	queued   int           // bytes of parameters queued since the last read
}

const (
	stmtApplyCommit = "pgswitch_apply_commit"
	stmtPositions   = "pgswitch_wal_positions"
	stmtImmediate   = "pgswitch_constraints_immediate"
)

// openSession connects, binds the origin and returns the session together
// with the origin's durable position.
func openSession(ctx context.Context, dsn, appName, origin string, synchronous bool, verify func(which, id string) error) (*applySession, pglogrepl.LSN, error) {
	commit := "off"
	if synchronous {
		commit = "on"
	}
	conn, err := pgutil.ConnectPg(ctx, dsn, pgutil.Options{
		AppName:  appName + "_apply",
		Writable: true,
		Params: map[string]string{
			"session_replication_role": "replica",
			// The title would be rewritten for every message of the
			// pipeline: about a tenth of the backend's time per
			// transaction in make bench.
			"update_process_title":                "off",
			"synchronous_commit":                  commit,
			"statement_timeout":                   "0",
			"lock_timeout":                        "0",
			"idle_in_transaction_session_timeout": "0",
		},
	})
	if err != nil {
		return nil, 0, err
	}
	s := &applySession{conn: conn, stmts: make(map[stmtKey]string)}
	start, err := s.setup(ctx, origin, verify)
	if err != nil {
		conn.Close(context.Background())
		return nil, 0, err
	}
	return s, start, nil
}

func (s *applySession) setup(ctx context.Context, origin string, verify func(which, id string) error) (pglogrepl.LSN, error) {
	// First of all: is this the database the node was initialised on?
	id, err := s.queryText(ctx, "SELECT system_identifier::text FROM pg_catalog.pg_control_system()")
	if err != nil {
		return 0, fmt.Errorf("reading the system identifier: %w", err)
	}
	if err := verify("local", id); err != nil {
		return 0, err
	}
	exists, err := s.queryText(ctx, sql.Query("origin_exists"), origin)
	if err != nil {
		return 0, fmt.Errorf("looking up replication origin %s: %w", origin, err)
	}
	if exists != "t" {
		return 0, &Fault{Reason: FaultMissingOrigin, Detail: fmt.Sprintf("replication origin %s does not exist on the standby (run pgswitch init --role standby)", origin)}
	}
	// The key equality of user-defined types (see whereSQL), created here
	// on a node initialised before it was part of the schema; before the
	// origin is bound, so that this commit has nothing to do with it.
	if has, err := s.queryText(ctx, sql.Query("key_eq_exists")); err != nil {
		return 0, fmt.Errorf("looking up pgswitch.key_eq: %w", err)
	} else if has != "t" {
		if _, err := s.queryText(ctx, sql.Query("key_eq_create")); err != nil {
			if pgutil.SQLState(err) == "3F000" {
				return 0, &Fault{Reason: FaultMissingSchema, Detail: "pgswitch schema is missing on the standby (run pgswitch init)", Err: err}
			}
			return 0, fmt.Errorf("creating pgswitch.key_eq: %w", err)
		}
	}
	if _, err := s.queryText(ctx, sql.Query("origin_session_setup"), origin); err != nil {
		return 0, fmt.Errorf("binding replication origin %s to the apply session: %w", origin, err)
	}
	// flush=true: the position returned is durable, so it may be reported
	// to the primary as flushed.
	pos, err := s.queryText(ctx, "SELECT pg_catalog.pg_replication_origin_session_progress(true)::text")
	if err != nil {
		return 0, fmt.Errorf("reading origin progress: %w", err)
	}
	var start pglogrepl.LSN
	if pos != "" {
		if start, err = pglogrepl.ParseLSN(pos); err != nil {
			return 0, fmt.Errorf("parsing origin progress %q: %w", pos, err)
		}
	}
	for name, q := range map[string]string{stmtApplyCommit: sql.Query("apply_commit"), stmtPositions: sql.Query("wal_positions"),
		stmtImmediate: "SET CONSTRAINTS ALL IMMEDIATE"} {
		if _, err := s.conn.Prepare(ctx, name, q, nil); err != nil {
			if pgutil.SQLState(err) == pgutil.UndefinedFunction || pgutil.SQLState(err) == "3F000" {
				return 0, &Fault{Reason: FaultMissingSchema, Detail: "pgswitch schema is missing on the standby (run pgswitch init)", Err: err}
			}
			return 0, fmt.Errorf("preparing %s: %w", name, err)
		}
	}
	s.pipe = s.conn.StartPipeline(context.Background())
	return start, nil
}

// queryText runs one query outside the pipeline and returns the first
// column of the first row as text ("" for NULL or no row).
func (s *applySession) queryText(ctx context.Context, q string, args ...string) (string, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	res := s.conn.ExecParams(ctx, q, params, nil, nil, nil).Read()
	if res.Err != nil {
		return "", res.Err
	}
	if len(res.Rows) == 0 || res.Rows[0][0] == nil {
		return "", nil
	}
	return string(res.Rows[0][0]), nil
}

// close ends the session without waiting for the results of a pipeline in
// flight: the session is being abandoned.
func (s *applySession) close() {
	s.conn.Close(context.Background())
}

// statement returns the prepared statement name for a shape, queueing its
// preparation into the pipeline the first time.
func (s *applySession) statement(r *relation, k stmtKey) string {
	if name, ok := s.stmts[k]; ok {
		return name
	}
	s.nextStmt++
	name := "pgswitch_" + strconv.Itoa(s.nextStmt)
	text := statementSQL(r, k)
	s.pipe.SendPrepare(name, text, nil)
	s.pending = append(s.pending, expectation{kind: expPrepare, rel: r, label: text})
	s.stmts[k] = name
	s.unsynced = true
	return name
}

// forget drops cached statements of older descriptions of a relation.
func (s *applySession) forget(relID uint32) {
	for k, name := range s.stmts {
		if k.rel == relID {
			s.pipe.SendDeallocate(name)
			s.pending = append(s.pending, expectation{kind: expOther})
			delete(s.stmts, k)
			s.unsynced = true
		}
	}
}

func (s *applySession) exec(name string, params [][]byte, e expectation) {
	s.pipe.SendQueryPrepared(name, params, nil, nil)
	s.pending = append(s.pending, e)
	s.unsynced = true
	for _, p := range params {
		s.queued += len(p)
	}
}

func (s *applySession) execSQL(text string, e expectation) {
	s.pipe.SendQueryParams(text, nil, nil, nil, nil)
	s.pending = append(s.pending, e)
	s.unsynced = true
	s.queued += len(text)
}

// commit closes the local transaction that applies group (consecutive
// whole source transactions, at least one): apply_commit records the last
// one's end in the origin, provided the origin is at expected (where the
// previous local commit left it); then Sync.
func (s *applySession) commit(group []*txnInfo, expected pglogrepl.LSN) {
	var exp []byte
	if expected != 0 {
		exp = []byte(expected.String())
	}
	t := group[len(group)-1]
	// Deferred constraints and triggers are checked now, before
	// apply_commit sets up the origin: once set up, the origin position
	// outlives a failed commit in the backend (PostgreSQL resets it only in
	// its own apply worker), and a later commit of the session would record
	// it for transactions that never committed.
	s.exec(stmtImmediate, nil, expectation{kind: expOther, group: group})
	s.exec(stmtApplyCommit, [][]byte{exp, []byte(t.endLSN.String()), []byte(t.commitTime.UTC().Format("2006-01-02 15:04:05.999999Z07:00"))}, expectation{kind: expOther, group: group})
	s.pipe.SendPipelineSync()
	s.pending = append(s.pending, expectation{kind: expSync, group: group})
	s.unsynced = false
}

// positions queues the query for the local WAL insert and flush positions,
// as its own implicit transaction. Only valid between source transactions.
func (s *applySession) positions() {
	s.exec(stmtPositions, nil, expectation{kind: expPositions})
	s.pipe.SendPipelineSync()
	s.pending = append(s.pending, expectation{kind: expSync})
	s.unsynced = false
}

// results are what one round trip learned.
type results struct {
	committed []*txnInfo // source transactions committed locally, in order
	groups    int        // local commits that committed them
	largest   int        // most source transactions in one of those commits
	localLSN  pglogrepl.LSN
	flushLSN  pglogrepl.LSN
	havePos   bool
	// posAfter: how many of committed were committed before the positions
	// query (its insert position covers exactly those).
	posAfter int
	notFound []string // UPDATE/DELETE that matched no row: the table and the source transaction
}

// roundTrip sends everything queued and reads every result. The pipeline
// stays open: an implicit transaction that is not yet synced continues.
func (s *applySession) roundTrip() (results, error) {
	if err := s.send(); err != nil {
		return results{}, err
	}
	return s.read(len(s.pending))
}

// overlap sends what is queued and reads only the results of what an
// earlier call sent: the server works through this batch while the applier
// prepares the next one. roundTrip (when the stream is idle) reads the rest.
func (s *applySession) overlap() (results, error) {
	earlier := s.sent
	if err := s.send(); err != nil {
		return results{}, err
	}
	return s.read(earlier)
}

// send writes everything queued to the server.
func (s *applySession) send() error {
	if len(s.pending) == s.sent {
		return nil
	}
	if s.unsynced {
		s.pipe.SendFlushRequest()
		s.unsynced = false
	}
	if err := s.pipe.Flush(); err != nil {
		return fmt.Errorf("sending to the standby database: %w", err)
	}
	s.queued = 0
	s.sent = len(s.pending)
	return nil
}

// read reads the results of the first n requests sent.
func (s *applySession) read(n int) (results, error) {
	var out results
	for ; n > 0; n-- {
		s.sent--
		e := s.pending[0]
		s.pending = s.pending[1:]
		res, err := s.pipe.GetResults()
		if err != nil {
			return out, s.describeError(e, err)
		}
		switch r := res.(type) {
		case *pgconn.ResultReader:
			switch e.kind {
			case expPositions:
				for r.NextRow() {
					v := r.Values()
					out.localLSN, _ = pglogrepl.ParseLSN(string(v[0]))
					out.flushLSN, _ = pglogrepl.ParseLSN(string(v[1]))
					out.havePos = true
					out.posAfter = len(out.committed)
				}
				if _, err := r.Close(); err != nil {
					return out, fmt.Errorf("reading WAL positions: %w", err)
				}
			default:
				tag, err := r.Close()
				if err != nil {
					return out, s.describeError(e, err)
				}
				if e.kind == expRowChange && tag.RowsAffected() == 0 {
					out.notFound = append(out.notFound, fmt.Sprintf("%s in %s", e.rel, e.txn))
				}
			}
		case *pgconn.PipelineSync:
			if e.kind != expSync {
				return out, fmt.Errorf("pipeline out of step: got a sync where %v was expected", e.kind)
			}
			if len(e.group) > 0 {
				out.committed = append(out.committed, e.group...)
				out.groups++
				out.largest = max(out.largest, len(e.group))
			}
		case *pgconn.StatementDescription, *pgconn.CloseComplete:
		case nil:
			return out, errors.New("pipeline out of step: no result where one was expected")
		}
	}
	return out, nil
}

// describeError turns a failed request into a classified fault.
func (s *applySession) describeError(e expectation, err error) error {
	what := "applying a change"
	if e.rel != nil {
		what = "applying a change to " + e.rel.String()
	}
	if e.kind == expPrepare {
		what = "preparing " + e.label
	}
	switch {
	case e.txn != nil:
		what += " in " + e.txn.String()
	case len(e.group) == 1:
		what = "committing " + e.group[0].String()
	case len(e.group) > 1:
		// A failure at the commit itself (a deferred constraint, the
		// origin check) belongs to the group as a whole; the next session
		// applies these transactions one by one and names the one.
		what = fmt.Sprintf("committing the %d source transactions from %s to %s in one local transaction",
			len(e.group), e.group[0], e.group[len(e.group)-1])
	}
	return classify(fmt.Errorf("%s: %w", what, err), e.rel)
}
