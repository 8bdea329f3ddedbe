package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/replication"
)

// settings go into every cluster's postgresql.conf, on top of pgtest's
// defaults (wal_level = logical, fsync = on, ...). Everything else, among it
// synchronous_commit = on and wal_writer_delay = 200ms, keeps PostgreSQL's
// default.
var settings = map[string]string{
	"shared_buffers":     "256MB",
	"max_wal_size":       "4GB",
	"checkpoint_timeout": "30min",
}

// shownSettings are read back from the primary for the report.
var shownSettings = []string{
	"shared_buffers", "max_wal_size", "checkpoint_timeout", "synchronous_commit",
	"wal_writer_delay", "fsync", "full_page_writes", "wal_level", "autovacuum",
}

// pgbenchTables are the tables both systems replicate and the data check
// compares.
var pgbenchTables = []string{"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"}

// pgbench runs pgbench against the app database on n.
func pgbench(ctx context.Context, n *harness.Node, args ...string) (string, error) {
	out, err := n.Cluster.Pgbench(ctx, harness.DB, args...)
	if err != nil {
		return out, fmt.Errorf("pgbench %s on %s: %w", strings.Join(args, " "), n.Name, err)
	}
	return out, nil
}

// loadPgbench creates the pgbench tables on n: with data (pgbench -i) or,
// when empty is set, only the tables and their keys. pgbench_history gets a
// primary key, as an operator would add before replicating it.
func loadPgbench(ctx context.Context, n *harness.Node, scale int, empty bool) error {
	args := []string{"-i", "-q", "-s", strconv.Itoa(scale)}
	if empty {
		args = append(args, "-I", "dtp")
	}
	if _, err := pgbench(ctx, n, args...); err != nil {
		return err
	}
	return n.Cluster.Exec(ctx, harness.DB, "ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY")
}

// settle brings both nodes of each pair into the same state before the timed
// phases: pgbench tables vacuumed, frozen and analysed, then a checkpoint.
func settle(ctx context.Context, p *harness.Pair) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range p.Nodes {
		g.Go(func() error {
			conn, err := n.Cluster.Conn(gctx, harness.DB)
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(gctx))
			// The pgswitch standby is read-only for clients.
			for _, q := range []string{
				"SET default_transaction_read_only = off",
				"VACUUM (FREEZE, ANALYZE) " + strings.Join(pgbenchTables, ", "),
				"CHECKPOINT",
			} {
				if _, err := conn.Exec(gctx, q); err != nil {
					return fmt.Errorf("settling %s: %s: %w", n.Name, q, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// pgbenchKeys are the tables' primary keys, which the content hash orders
// the rows by.
var pgbenchKeys = map[string]string{
	"pgbench_accounts": "aid", "pgbench_branches": "bid", "pgbench_tellers": "tid", "pgbench_history": "hid",
}

// sameData compares content hashes of the pgbench tables on both nodes
// (hashing both at once) and describes what it compared.
func sameData(ctx context.Context, p *harness.Pair) (string, error) {
	var hashes [2][]string
	g, gctx := errgroup.WithContext(ctx)
	for i, n := range p.Nodes {
		g.Go(func() (err error) {
			hashes[i], err = tableHashes(gctx, n)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	var rows []string
	for i, t := range pgbenchTables {
		a, b := hashes[0][i], hashes[1][i]
		if a != b {
			return "", fmt.Errorf("table %s differs: %s on %s, %s on %s", t, a, p.Nodes[0].Name, b, p.Nodes[1].Name)
		}
		_, count, _ := strings.Cut(a, ":")
		rows = append(rows, fmt.Sprintf("%s %s", strings.TrimPrefix(t, "pgbench_"), thousands(mustAtoi(count))))
	}
	return "identical (md5 of all rows in key order; rows: " + strings.Join(rows, ", ") + ")", nil
}

// tableHashes is md5-of-all-rows:row-count for each pgbench table on n.
func tableHashes(ctx context.Context, n *harness.Node) ([]string, error) {
	conn, err := n.Cluster.Conn(ctx, harness.DB)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Sort a million rows in memory.
	if _, err := conn.Exec(ctx, "SET work_mem = '256MB'"); err != nil {
		return nil, fmt.Errorf("hashing on %s: %w", n.Name, err)
	}
	var hashes []string
	for _, t := range pgbenchTables {
		var h string
		err := conn.QueryRow(ctx, fmt.Sprintf(
			"SELECT coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t.%s)), 'empty') || ':' || count(*) FROM %s t",
			pgbenchKeys[t], t)).Scan(&h)
		if err != nil {
			return nil, fmt.Errorf("hashing %s on %s: %w", t, n.Name, err)
		}
		hashes = append(hashes, h)
	}
	return hashes, nil
}

// slotProgress is what the consumer of slot last reported to the primary:
// the applied position (pg_stat_replication.replay_lsn of the walsender
// that holds the slot; 0 while none does) and the slot's confirmed_flush_lsn.
func slotProgress(ctx context.Context, conn *pgx.Conn, slot string) (applied, flushed replication.LSN, err error) {
	var a, f string
	err = conn.QueryRow(ctx, `
		SELECT coalesce(r.replay_lsn, '0/0')::text, coalesce(s.confirmed_flush_lsn, '0/0')::text
		FROM pg_catalog.pg_replication_slots s
		LEFT JOIN pg_catalog.pg_stat_replication r ON r.pid = s.active_pid
		WHERE s.slot_name = $1`, slot).Scan(&a, &f)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the progress of slot %s: %w", slot, err)
	}
	if applied, err = replication.ParseLSN(a); err == nil {
		flushed, err = replication.ParseLSN(f)
	}
	return applied, flushed, err
}

// serverInfo is the PostgreSQL version and the settings that matter here.
type serverInfo struct {
	version  string
	settings []string // name = value
}

func describeServer(ctx context.Context, n *harness.Node) (serverInfo, error) {
	var s serverInfo
	v, err := n.Cluster.QueryString(ctx, harness.DB, "SELECT version()")
	if err != nil {
		return s, err
	}
	s.version = regexp.MustCompile(` on .*`).ReplaceAllString(v, "")
	for _, name := range shownSettings {
		val, err := n.Cluster.QueryString(ctx, harness.DB, "SELECT current_setting($1)", name)
		if err != nil {
			return s, err
		}
		s.settings = append(s.settings, name+" = "+val)
	}
	return s, nil
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
