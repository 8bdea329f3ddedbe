package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// The writer of the switchover figures and of the comparison with the
// peers: clients inserting into switchSchema's writes table through a DSN,
// recording every acknowledged id. Every pair these parts build, pgswitch's
// or a peer's, gets the same statement through the same code.

// target is where a writer sends its inserts: a DSN (pgswitch's VIP, or a
// libpq multi-host list with target_session_attrs=read-write), dialled from
// a network namespace when netns is set.
type target struct {
	name  string // for the report: "VIP", "multi-host DSN"
	dsn   string
	netns string
}

const (
	writeInsert = "INSERT INTO writes (id) VALUES (nextval('tickets')) RETURNING id"
	// hostConnectTimeout bounds the connection attempt to each host of a
	// DSN, so that a host whose link is cut costs the client no more.
	hostConnectTimeout = 300 * time.Millisecond
)

// startWriters starts clients writing rate rows a second in all to t; they
// reconnect 10 ms after any error and stop when ctx ends.
func startWriters(ctx context.Context, t target, clients, rate int) *harness.Writers {
	return harness.StartWriters(ctx, harness.WriterOptions{
		Clients: clients, Rate: rate, Via: t.name,
		// Room for every host of a multi-host DSN.
		ConnectTimeout: 4 * hostConnectTimeout,
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			cfg, err := pgx.ParseConfig(t.dsn)
			if err != nil {
				return nil, fmt.Errorf("parsing the DSN of %s: %w", t.name, err)
			}
			cfg.ConnectTimeout = hostConnectTimeout
			if t.netns != "" {
				cfg.DialFunc = pgtest.NSDialer(t.netns)
			}
			return pgx.ConnectConfig(ctx, cfg)
		},
		Insert: writeInsert,
	})
}

// waitWriting waits until every writer has had a write acknowledged after
// since: its clients reach the primary (again).
func waitWriting(ctx context.Context, since time.Time, ws ...*harness.Writers) error {
	return pgtest.WaitFor(ctx, "writes acknowledged after "+since.Format("15:04:05.000"), func() (bool, error) {
		for _, w := range ws {
			if a, ok := w.Last(); !ok || !a.End.After(since) {
				return false, nil
			}
		}
		return true, nil
	})
}

// firstAckAfter is the first acknowledgement of a write requested after t
// (one requested before may be the old primary's reply still in flight).
func firstAckAfter(acks []harness.Ack, t time.Time) (time.Time, bool) {
	var first time.Time
	for _, a := range acks {
		if a.Start.After(t) && (first.IsZero() || a.End.Before(first)) {
			first = a.End
		}
	}
	return first, !first.IsZero()
}
