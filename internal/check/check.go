package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/quorum"
	"github.com/pgswitch/pgswitch/internal/replication"
	"github.com/pgswitch/pgswitch/internal/schema"
	"github.com/pgswitch/pgswitch/internal/setup"
	"github.com/pgswitch/pgswitch/internal/state"
	"github.com/pgswitch/pgswitch/sql"
)

// Finding is one line of the report.
type Finding struct {
	OK   bool
	Node string // node name, or "both"
	Text string
}

func (f Finding) String() string {
	mark := "ok  "
	if !f.OK {
		mark = "FAIL"
	}
	return fmt.Sprintf("%s  %-10s %s", mark, f.Node, f.Text)
}

// Report is the whole check.
type Report struct{ Findings []Finding }

// Failed counts the problems.
func (r *Report) Failed() int {
	n := 0
	for _, f := range r.Findings {
		if !f.OK {
			n++
		}
	}
	return n
}

// Print writes one line per finding.
func (r *Report) Print(w io.Writer) {
	for _, f := range r.Findings {
		fmt.Fprintln(w, f)
	}
	if n := r.Failed(); n > 0 {
		fmt.Fprintf(w, "%d problem(s) found\n", n)
	} else {
		fmt.Fprintln(w, "no problems found")
	}
}

func (r *Report) ok(node, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{OK: true, Node: node, Text: fmt.Sprintf(format, args...)})
}

func (r *Report) fail(node, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{OK: false, Node: node, Text: fmt.Sprintf(format, args...)})
}

// verifyIdentity reports a database whose system identifier differs from
// the one recorded at init (a cluster replaced since).
func verifyIdentity(ctx context.Context, r *Report, s *side, dsn, which, expected string) {
	if s == nil || expected == "" {
		return
	}
	if _, err := pgutil.VerifySystemID(ctx, s.conn, dsn, which, expected); err != nil {
		r.fail(s.name, "%v", err)
	} else {
		r.ok(s.name, "%s database is the one recorded at init (system identifier %s)", which, expected)
	}
}

type side struct {
	name string
	conn *pgx.Conn
	info setup.ServerInfo
}

// Run checks both nodes. It returns an error only when the check itself
// cannot proceed in an unexpected way; unreachable nodes are findings.
func Run(ctx context.Context, cfg *config.Config) (*Report, error) {
	r := &Report{}
	local := connect(ctx, r, cfg.Node.Name, cfg.Postgres.DSN, cfg.ApplicationName())
	peer := connect(ctx, r, cfg.Peer.Name, cfg.Postgres.PeerDSN, cfg.ApplicationName())
	for _, s := range []*side{local, peer} {
		if s != nil {
			defer s.conn.Close(context.Background())
		}
	}
	localState := handshake.State("")
	var localRec *state.Record
	defer func() { quorumFindings(ctx, r, cfg, localRec) }()
	if store, err := state.Open(cfg.Node.StateDir, cfg.Node.Name); err == nil {
		if rec, err := store.Load(); err == nil {
			localState = rec.State
			localRec = &rec
			r.ok(cfg.Node.Name, "state file says %s (epoch %d)", rec.State, rec.Epoch)
			if dv := rec.Divergence; dv != nil {
				r.fail(cfg.Node.Name, "committed %d transactions the new active (epoch %d) never applied: reconcile them from %s, then pgswitch rejoin",
					dv.Transactions, dv.Epoch, dv.Report)
			}
			verifyIdentity(ctx, r, local, cfg.Postgres.DSN, "local", rec.LocalSystemID)
			verifyIdentity(ctx, r, peer, cfg.Postgres.PeerDSN, "peer", rec.PeerSystemID)
		} else if errors.Is(err, state.ErrNoState) {
			r.ok(cfg.Node.Name, "not initialised yet (no state file in %s)", cfg.Node.StateDir)
		} else {
			r.fail(cfg.Node.Name, "%v", err)
		}
	} else {
		r.fail(cfg.Node.Name, "%v", err)
	}
	if local == nil || peer == nil {
		return r, nil
	}
	for _, s := range []*side{local, peer} {
		if err := serverFindings(ctx, r, s); err != nil {
			return r, err
		}
	}
	source, target := chooseSource(ctx, cfg, localState, localRec != nil && localRec.Divergence != nil, local, peer)
	r.ok("both", "%s is the source of replication, %s the target", source.name, target.name)
	if err := tableFindings(ctx, r, cfg, source, target); err != nil {
		return r, err
	}
	return r, slotFindings(ctx, r, cfg, source, target)
}

func connect(ctx context.Context, r *Report, node, dsn, app string) *side {
	conn, err := pgutil.Connect(ctx, dsn, pgutil.Options{AppName: app + "_check"})
	if err != nil {
		r.fail(node, "cannot connect to the database %s: %v", pgutil.Describe(dsn), err)
		return nil
	}
	r.ok(node, "database %s reachable", pgutil.Describe(dsn))
	return &side{name: node, conn: conn}
}

func serverFindings(ctx context.Context, r *Report, s *side) error {
	info, err := setup.ReadServerInfo(ctx, s.conn)
	if err != nil {
		r.fail(s.name, "%v", err)
		return nil
	}
	s.info = info
	problems := info.Problems()
	for _, p := range problems {
		r.fail(s.name, "%s", p)
	}
	if len(problems) == 0 {
		r.ok(s.name, "PostgreSQL %d.%d, wal_level=logical, role %s is superuser", info.VersionNum/10000, info.VersionNum%10000, info.Role)
	}
	if free := info.MaxReplicationSlots - info.SlotsUsed; free < 1 {
		r.fail(s.name, "no free replication slot (max_replication_slots=%d, %d in use)", info.MaxReplicationSlots, info.SlotsUsed)
	}
	if info.MaxWALSenders < 2 {
		r.fail(s.name, "max_wal_senders=%d: pgswitch needs at least 2", info.MaxWALSenders)
	}
	return nil
}

// chooseSource decides which node holds the data: by the local state when
// there is one, else the node that publishes, else this node (check before
// init runs on the future primary).
func chooseSource(ctx context.Context, cfg *config.Config, st handshake.State, behind bool, local, peer *side) (*side, *side) {
	w := handshake.WantOf(st)
	switch {
	case w.Applier == handshake.Present, w.Role == handshake.RoleCopying, behind:
		// This node applies from the peer, is being copied from it, or
		// is an old active behind the peer's later epoch.
		return peer, local
	case st == "":
		var published bool
		if err := peer.conn.QueryRow(ctx, sql.Query("publication_exists"), cfg.Replication.Publication).Scan(&published); err == nil && published {
			return peer, local
		}
	}
	return local, peer
}

func tableFindings(ctx context.Context, r *Report, cfg *config.Config, source, target *side) error {
	tables, err := schema.Replicated(ctx, source.conn, cfg.Replication.Publication, cfg.Replication.Tables)
	if err != nil {
		r.fail(source.name, "%v", err)
		return nil
	}
	if len(tables) == 0 {
		r.fail(source.name, "no tables to replicate")
		return nil
	}
	bad := 0
	for _, t := range tables {
		src, ok, err := schema.Load(ctx, source.conn, t)
		if err != nil {
			return err
		}
		if !ok {
			r.fail(source.name, "table %s is configured but does not exist", t)
			bad++
			continue
		}
		dst, ok, err := schema.Load(ctx, target.conn, t)
		if err != nil {
			return err
		}
		for _, s := range []struct {
			side  *side
			shape schema.Shape
			have  bool
		}{{source, src, true}, {target, dst, ok}} {
			if s.have && !s.shape.Identifiable() {
				r.fail(s.side.name, "table %s has no replica identity: UPDATE and DELETE fail once it is published (add a primary key or ALTER TABLE %s REPLICA IDENTITY FULL)", t, t.Quoted())
				bad++
			}
		}
		if !ok {
			r.fail(target.name, "table %s does not exist (create it with the same definition; DDL is not replicated)", t)
			bad++
			continue
		}
		for _, d := range schema.Diff(src, dst, source.name, target.name) {
			r.fail("both", "schema drift: %s", d)
			bad++
		}
	}
	if bad == 0 {
		r.ok("both", "%d replicated tables: same columns on both nodes, every one has a replica identity", len(tables))
	}
	return nil
}

func slotFindings(ctx context.Context, r *Report, cfg *config.Config, source, target *side) error {
	slot := "pgswitch_" + strings.ReplaceAll(target.name, "-", "_")
	info, ok, err := replication.LookupSlot(ctx, source.conn, slot)
	if err != nil {
		return err
	}
	switch {
	case !ok && source.info.HasSchema:
		r.fail(source.name, "replication slot %s for %s is missing (run pgswitch init)", slot, target.name)
	case !ok:
		r.ok(source.name, "slot %s will be created by init", slot)
	case info.WALStatus == "lost":
		r.fail(source.name, "replication slot %s has lost WAL the standby needs: re-initialise the standby", slot)
	case info.Plugin != "pgoutput":
		r.fail(source.name, "replication slot %s uses plugin %s, not pgoutput", slot, info.Plugin)
	default:
		r.ok(source.name, "replication slot %s exists (active=%t, confirmed up to %s)", slot, info.Active, info.ConfirmedFlush)
	}
	// A forward slot on the target would hold WAL and decode applied
	// changes: only the source may have one.
	other := "pgswitch_" + strings.ReplaceAll(source.name, "-", "_")
	if _, ok, err := replication.LookupSlot(ctx, target.conn, other); err == nil && ok {
		r.fail(target.name, "slot %s exists on the standby side: it retains WAL for nobody (pgswitch drops it at the next switchover; or drop it by hand)", other)
	}
	return nil
}

// quorumFindings checks the quorum of SPEC §9 when one is configured: etcd
// reachable, and the pair's keys consistent with this node's record (the
// leader key names the ACTIVE node, in an epoch not behind this node's).
func quorumFindings(ctx context.Context, r *Report, cfg *config.Config, rec *state.Record) {
	if len(cfg.Quorum.Endpoints) == 0 {
		r.ok("quorum", "none configured (quorum.endpoints is empty): no unplanned failover")
		return
	}
	c, err := quorum.New(quorum.FromConfig(cfg.Quorum))
	if err != nil {
		r.fail("quorum", "%v", err)
		return
	}
	defer c.Close()
	st, err := c.ReadLeader(ctx)
	if err != nil {
		r.fail("quorum", "etcd at %s is not usable: %v", strings.Join(cfg.Quorum.Endpoints, ","), err)
		return
	}
	switch {
	case !st.Present:
		r.ok("quorum", "etcd at %s reachable; leader key %s is absent (no node holds it)", strings.Join(cfg.Quorum.Endpoints, ","), c.LeaderKey())
	default:
		r.ok("quorum", "etcd at %s reachable; leader key %s held by %s in epoch %d, lease %s left",
			strings.Join(cfg.Quorum.Endpoints, ","), c.LeaderKey(), st.Node, st.Epoch, st.TTLLeft)
		if st.Node != cfg.Node.Name && st.Node != cfg.Peer.Name {
			r.fail("quorum", "the leader key names %s, which is neither %s nor %s: is quorum.cluster %q shared with another pair?", st.Node, cfg.Node.Name, cfg.Peer.Name, cfg.Quorum.Cluster)
		}
		if rec != nil {
			if st.Epoch < int64(rec.Epoch) {
				r.fail("quorum", "the leader key's epoch %d is behind %s's epoch %d", st.Epoch, cfg.Node.Name, rec.Epoch)
			}
			serving := handshake.WantOf(rec.State).Backend == handshake.BackendPrimary
			if serving && st.Node != cfg.Node.Name {
				r.fail("quorum", "the leader key names %s, but %s is ACTIVE", st.Node, cfg.Node.Name)
			}
			if st.Node == cfg.Node.Name && !serving {
				r.fail("quorum", "the leader key names %s, but its state is %s", cfg.Node.Name, rec.State)
			}
		}
	}
	if names, err := c.ReadSync(ctx); err != nil {
		r.fail("quorum", "reading the sync key: %v", err)
	} else if len(names) > 0 {
		r.ok("quorum", "the sync key names %s", strings.Join(names, ", "))
	}
}
