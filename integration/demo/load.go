package main

import (
	"context"
	"math/rand/v2"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
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
