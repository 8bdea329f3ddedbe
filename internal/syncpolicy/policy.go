package syncpolicy

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/pgutil"
)

// State is the active's synchronous-mode bookkeeping; the zero State is a
// node that has just become active.
type State struct {
	lastStreaming time.Time // when the peer's applier last streamed caught up
	following     bool      // the peer has streamed since this node became active
	degraded      bool
}

// Degraded says whether commits stopped waiting for the standby.
func (s State) Degraded() bool { return s.degraded }

// Change is what a decision changed, for the log.
type Change int

// The changes.
const (
	Same      Change = iota
	Resumed          // the standby streams caught up again: commits wait for it
	Suspended        // the standby has been gone too long: commits stop waiting
)

// Decide is the active's synchronous policy, a pure function: given its
// bookkeeping, the time, whether the standby streams caught up (within
// switchover.max_lag_bytes), replication.sync_degrade_after and the
// standby's name, it returns the new bookkeeping and the names commits must
// wait for.
//   - after = 0 (strict): always the standby, gone or not;
//   - a new active waits for its follower to stream before commits wait for
//     it (at most after, then degraded);
//   - the standby gone for longer than after: degraded, no names (the fault
//     synchronous_degraded), until it streams caught up again.
func Decide(st State, now time.Time, caughtUp bool, after time.Duration, name string) (State, string, Change) {
	change := Same
	if st.lastStreaming.IsZero() {
		st.lastStreaming = now // give a new follower its time to connect
	}
	if caughtUp {
		st.lastStreaming = now
		st.following = true
		if st.degraded {
			change = Resumed
		}
		st.degraded = false
	}
	if after == 0 {
		return st, name, change
	}
	if after > 0 && now.Sub(st.lastStreaming) > after && !st.degraded {
		st.degraded = true
		change = Suspended
	}
	if st.degraded || !st.following {
		return st, "", change
	}
	return st, name, change
}

// Apply sets synchronous_standby_names (ALTER SYSTEM and a reload) when it
// differs, and returns once the session sees the new value (bounded by
// ctx).
func Apply(ctx context.Context, conn *pgx.Conn, want string) error {
	var cur string
	if err := conn.QueryRow(ctx, "SELECT current_setting('synchronous_standby_names')").Scan(&cur); err != nil {
		return err
	}
	if cur == want {
		return nil
	}
	if _, err := conn.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = "+pgutil.Literal(want)); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_reload_conf()"); err != nil {
		return err
	}
	// The reload is asynchronous: wait (bounded by ctx) until this
	// session sees it.
	for {
		if err := conn.QueryRow(ctx, "SELECT current_setting('synchronous_standby_names')").Scan(&cur); err != nil {
			return fmt.Errorf("reading synchronous_standby_names after the reload: %w", err)
		}
		if cur == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("synchronous_standby_names is still %q, not %q, after the reload: %w", cur, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
