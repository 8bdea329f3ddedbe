package main

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// startLoad runs writers clients; each reconnects after any error, finding
// the writable node by target_session_attrs=read-write.
func startLoad(ctx context.Context, dsn string, writers int) *harness.Writers {
	return harness.StartWriters(ctx, harness.WriterOptions{
		Clients: writers,
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, dsn) },
		Insert:  "INSERT INTO ledger (writer, amount) VALUES ($1, $2) RETURNING id",
		Args:    func(c int) []any { return []any{c, rand.IntN(100000) / 100.0} },
	})
}

func activeOf(ctx context.Context, p *harness.Pair) *harness.Node {
	for _, n := range p.Nodes {
		if st, err := p.Status(ctx, n); err == nil && st.State == "ACTIVE" {
			return n
		}
	}
	return p.Nodes[0]
}

// waitStreaming waits until n is a STANDBY whose applier streams.
func waitStreaming(ctx context.Context, p *harness.Pair, n *harness.Node) error {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return pgtest.WaitFor(wctx, n.Name+" to stream as STANDBY", func() (bool, error) {
		st, err := p.Status(wctx, n)
		if err != nil {
			return false, err
		}
		return st.State == "STANDBY" && st.Replication != nil && st.Replication.Streaming, nil
	})
}
