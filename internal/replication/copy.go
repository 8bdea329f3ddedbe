package replication

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/pgswitch/pgswitch/internal/pgutil"
	"github.com/pgswitch/pgswitch/internal/schema"
)

// CopyOptions describe an initial copy from the active node into the empty
// standby.
type CopyOptions struct {
	SourceDSN, TargetDSN string
	Slot                 string // created (again) on the source with an exported snapshot
	Origin               string // advanced on the target to the slot's consistent point
	AppName              string
	Tables               []schema.Shape // the source's shapes of the tables to copy
	Parallel             int            // tables copied at once (default 2)
	Progress             func(CopyProgress)
	Log                  zerolog.Logger
}

// CopyProgress is reported about once a second and when a table is done.
type CopyProgress struct {
	Table        string
	Index, Total int   // table n of m (1-based)
	Rows, Bytes  int64 // of this table so far
	TotalRows    int64 // of all tables so far
	TotalBytes   int64
	TableDone    bool
	Elapsed      time.Duration
}

// InitialCopy creates the slot with an exported snapshot, copies every table
// inside that snapshot, then advances the origin to the slot's consistent
// point: streaming from there continues exactly where the copy ends. The
// slot must not exist (the caller drops it first).
func InitialCopy(ctx context.Context, o CopyOptions) (LSN, error) {
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	rconn, err := pgutil.ConnectPg(ctx, o.SourceDSN, pgutil.Options{AppName: o.AppName + "_init", Replication: true})
	if err != nil {
		return 0, fmt.Errorf("opening a replication connection to the active node: %w", err)
	}
	// Closing this connection ends the exported snapshot: only after the copy.
	defer rconn.Close(context.Background())
	point, snapshot, err := CreateSlotNow(ctx, rconn, o.Slot, true)
	if err != nil {
		return 0, err
	}
	o.Log.Info().Str("slot", o.Slot).Str("lsn", point.String()).Str("snapshot", snapshot).Int("tables", len(o.Tables)).Msg("slot created; copying tables in its snapshot")

	start := time.Now()
	var totalRows, totalBytes atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Parallel)
	for i, shape := range o.Tables {
		g.Go(func() error {
			return copyTable(gctx, o, snapshot, shape, i+1, start, &totalRows, &totalBytes)
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}

	tconn, err := pgutil.Connect(ctx, o.TargetDSN, pgutil.Options{AppName: o.AppName + "_init", Writable: true})
	if err != nil {
		return 0, fmt.Errorf("connecting to the standby: %w", err)
	}
	defer tconn.Close(context.Background())
	if err := AdvanceOrigin(ctx, tconn, o.Origin, point); err != nil {
		return 0, err
	}
	o.Log.Info().Int64("rows", totalRows.Load()).Int64("bytes", totalBytes.Load()).Dur("took", time.Since(start)).
		Str("lsn", point.String()).Msg("initial copy done")
	return point, nil
}

func copyTable(ctx context.Context, o CopyOptions, snapshot string, shape schema.Shape, index int, start time.Time, totalRows, totalBytes *atomic.Int64) error {
	t := shape.Table
	src, err := pgutil.ConnectPg(ctx, o.SourceDSN, pgutil.Options{AppName: o.AppName + "_copy"})
	if err != nil {
		return fmt.Errorf("copying %s: %w", t, err)
	}
	defer src.Close(context.Background())
	dst, err := pgutil.ConnectPg(ctx, o.TargetDSN, pgutil.Options{AppName: o.AppName + "_copy", Writable: true,
		Params: map[string]string{"session_replication_role": "replica"}})
	if err != nil {
		return fmt.Errorf("copying %s: %w", t, err)
	}
	defer dst.Close(context.Background())

	begin := fmt.Sprintf("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '%s'", snapshot)
	if _, err := src.Exec(ctx, begin).ReadAll(); err != nil {
		return fmt.Errorf("copying %s: entering the slot's snapshot: %w", t, err)
	}

	counter := &countingReader{fin: make(chan struct{})}
	report := func(done bool) {
		if o.Progress != nil {
			o.Progress(CopyProgress{Table: t.String(), Index: index, Total: len(o.Tables),
				Rows: counter.rows.Load(), Bytes: counter.bytes.Load(),
				TotalRows: totalRows.Load(), TotalBytes: totalBytes.Load(), TableDone: done, Elapsed: time.Since(start)})
		}
	}
	counter.totalRows, counter.totalBytes = totalRows, totalBytes
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, err := streamTable(gctx, src, dst, shape, func(r io.Reader) io.Reader { counter.r = r; return counter })
		return err
	})
	g.Go(func() error {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				report(false)
			case <-gctx.Done():
				return nil
			case <-counter.done():
				return nil
			}
		}
	})
	err = g.Wait()
	if err != nil {
		return err
	}
	report(true)
	return nil
}

// countingReader counts bytes and rows (lines of COPY text format) that
// pass through it.
type countingReader struct {
	r                     io.Reader
	rows, bytes           atomic.Int64
	totalRows, totalBytes *atomic.Int64
	fin                   chan struct{}
	finished              atomic.Bool
}

func (c *countingReader) done() <-chan struct{} { return c.fin }

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		lines := int64(bytes.Count(p[:n], []byte{'\n'}))
		c.rows.Add(lines)
		c.bytes.Add(int64(n))
		c.totalRows.Add(lines)
		c.totalBytes.Add(int64(n))
	}
	if err != nil && c.finished.CompareAndSwap(false, true) {
		close(c.fin)
	}
	return n, err
}
