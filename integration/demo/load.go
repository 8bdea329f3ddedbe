package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

type ack struct {
	id  int64
	end time.Time
}

type load struct {
	mu       sync.Mutex
	acks     []ack
	failures int
	wg       sync.WaitGroup
}

// startLoad runs writers clients; each reconnects after any error, finding
// the writable node by target_session_attrs=read-write.
func startLoad(ctx context.Context, dsn string, writers int) *load {
	l := &load{}
	for w := range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			var conn *pgx.Conn
			defer func() {
				if conn != nil {
					conn.Close(context.Background())
				}
			}()
			for ctx.Err() == nil {
				if conn == nil {
					cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					c, err := pgx.Connect(cctx, dsn)
					cancel()
					if err != nil {
						l.fail(ctx)
						continue
					}
					conn = c
				}
				qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				var id int64
				err := conn.QueryRow(qctx, "INSERT INTO ledger (writer, amount) VALUES ($1, $2) RETURNING id", w, rand.IntN(100000)/100.0).Scan(&id)
				cancel()
				if err != nil {
					conn.Close(context.Background())
					conn = nil
					l.fail(ctx)
					continue
				}
				l.mu.Lock()
				l.acks = append(l.acks, ack{id: id, end: time.Now()})
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) fail(ctx context.Context) {
	l.mu.Lock()
	l.failures++
	l.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Millisecond):
	}
}

func (l *load) wait() ([]ack, int) {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ack(nil), l.acks...), l.failures
}

func longestPause(acks []ack) (time.Duration, time.Time) {
	sort.Slice(acks, func(i, j int) bool { return acks[i].end.Before(acks[j].end) })
	var worst time.Duration
	var at time.Time
	for i := 1; i < len(acks); i++ {
		if d := acks[i].end.Sub(acks[i-1].end); d > worst {
			worst, at = d, acks[i-1].end
		}
	}
	return worst, at
}

func ids(ctx context.Context, n *harness.Node) (map[int64]bool, error) {
	conn, err := n.Cluster.Conn(ctx, harness.DB)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id FROM ledger")
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	out := make(map[int64]bool, len(list))
	for _, id := range list {
		out[id] = true
	}
	return out, nil
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

var _ = fmt.Sprint
