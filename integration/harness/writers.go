package harness

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ack is one acknowledged write: the id the database returned and when
// the request started and was acknowledged.
type Ack struct {
	ID         int64
	Via        string
	Start, End time.Time
}

// Writers are clients that insert rows until stopped, reconnecting after
// any error, and record every acknowledged row: the load of the tests, the
// benchmarks and the demo.
type Writers struct {
	mu       sync.Mutex
	acks     []Ack
	failures int
	errs     []Failure // the most recent, for explaining a pause
	wg       sync.WaitGroup
}

// Failure is one failed attempt of a client.
type Failure struct {
	At  time.Time
	Err string
}

// keptFailures bounds the failures a Writers remembers.
const keptFailures = 4096

// WriterOptions shape the clients.
type WriterOptions struct {
	Clients int                                          // how many (default 1)
	Via     string                                       // a label for the acks
	Connect func(ctx context.Context) (*pgx.Conn, error) // a new connection
	// Insert returns the new row's id, e.g.
	// "INSERT INTO t (…) VALUES (…) RETURNING id".
	Insert string
	Args   func(client int) []any // arguments of Insert (nil: none)
	// Rate limits all clients together to so many writes a second (0: as
	// fast as they can).
	Rate int
	// ConnectTimeout bounds a connection attempt (default 2 s).
	ConnectTimeout time.Duration
}

// StartWriters starts the clients; they stop when ctx ends.
func StartWriters(ctx context.Context, o WriterOptions) *Writers {
	if o.Clients <= 0 {
		o.Clients = 1
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 2 * time.Second
	}
	w := &Writers{}
	for c := range o.Clients {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.run(ctx, o, c)
		}()
	}
	return w
}

func (w *Writers) run(ctx context.Context, o WriterOptions, client int) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	var tick <-chan time.Time
	if o.Rate > 0 {
		t := time.NewTicker(time.Duration(o.Clients) * time.Second / time.Duration(o.Rate))
		defer t.Stop()
		tick = t.C
	}
	for ctx.Err() == nil {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return
			}
		}
		if conn == nil {
			cctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
			c, err := o.Connect(cctx)
			cancel()
			if err != nil {
				w.failed(ctx, "connect: "+err.Error())
				continue
			}
			conn = c
		}
		var args []any
		if o.Args != nil {
			args = o.Args(client)
		}
		start := time.Now()
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var id int64
		err := conn.QueryRow(qctx, o.Insert, args...).Scan(&id)
		cancel()
		if err != nil {
			conn.Close(context.Background())
			conn = nil
			w.failed(ctx, "write: "+err.Error())
			continue
		}
		w.mu.Lock()
		w.acks = append(w.acks, Ack{ID: id, Via: o.Via, Start: start, End: time.Now()})
		w.mu.Unlock()
	}
}

// failed counts a failure and pauses briefly before the next attempt.
func (w *Writers) failed(ctx context.Context, why string) {
	w.mu.Lock()
	w.failures++
	if len(w.errs) == keptFailures {
		w.errs = w.errs[1:]
	}
	w.errs = append(w.errs, Failure{At: time.Now(), Err: why})
	w.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Millisecond):
	}
}

// Wait waits for the clients (after ctx ended) and returns the
// acknowledged writes and the number of failed attempts.
func (w *Writers) Wait() ([]Ack, int) {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Ack(nil), w.acks...), w.failures
}

// Last is the most recent acknowledged write so far, if any.
func (w *Writers) Last() (Ack, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.acks) == 0 {
		return Ack{}, false
	}
	return w.acks[len(w.acks)-1], true
}

// FailuresBetween returns the remembered failures from from to to.
func (w *Writers) FailuresBetween(from, to time.Time) []Failure {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Failure
	for _, f := range w.errs {
		if !f.At.Before(from) && !f.At.After(to) {
			out = append(out, f)
		}
	}
	return out
}

// LongestPause is the longest time between consecutive acknowledgements,
// and when it began.
func LongestPause(acks []Ack) (time.Duration, time.Time) {
	return LongestGap(acks, time.Time{}, time.Time{})
}

// LongestGap is LongestPause over acknowledgements ending in [from, to]
// (zero times: unbounded).
func LongestGap(acks []Ack, from, to time.Time) (time.Duration, time.Time) {
	ends := make([]time.Time, len(acks))
	for i, a := range acks {
		ends[i] = a.End
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
	var worst time.Duration
	var at, prev time.Time
	for _, e := range ends {
		if !from.IsZero() && e.Before(from) {
			prev = e
			continue
		}
		if !to.IsZero() && e.After(to) {
			break
		}
		if !prev.IsZero() && e.Sub(prev) > worst {
			worst, at = e.Sub(prev), prev
		}
		prev = e
	}
	return worst, at
}

// IDs returns the ids a query returns on n (its first column).
func IDs(ctx context.Context, n *Node, query string) (map[int64]bool, error) {
	conn, err := n.Cluster.Conn(ctx, DB)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// Missing counts the acknowledged writes whose id is not in have.
func Missing(acks []Ack, have map[int64]bool) int {
	n := 0
	for _, a := range acks {
		if !have[a.ID] {
			n++
		}
	}
	return n
}

// Acks returns a copy of the writes acknowledged so far.
func (w *Writers) Acks() []Ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Ack(nil), w.acks...)
}
