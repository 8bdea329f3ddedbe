package replication

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A group takes another source transaction only within its bounds, and
// never while the applier retries one by one after a fault.
func TestGroupBounds(t *testing.T) {
	cases := []struct {
		name    string
		txns    int           // in the open group, the last one included
		bytes   int           // of their changes
		age     time.Duration // since the first was queued
		final   LSN           // the last one's commit position
		solo    LSN           // one by one before this
		mayGrow bool
	}{
		{name: "small and young", txns: 3, bytes: 300, age: time.Millisecond, final: 1000, mayGrow: true},
		{name: "count reached", txns: 8, bytes: 300, age: time.Millisecond, final: 1000},
		{name: "bytes reached", txns: 2, bytes: 4096, age: time.Millisecond, final: 1000},
		{name: "too old", txns: 2, bytes: 300, age: time.Second, final: 1000},
		{name: "retrying one by one", txns: 1, bytes: 100, age: 0, final: 1000, solo: 2000},
		{name: "past the retry", txns: 1, bytes: 100, age: 0, final: 2000, solo: 2000, mayGrow: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := New(Config{MaxGroupTxns: 8, MaxGroupBytes: 4096, MaxGroupDelay: 100 * time.Millisecond}, zerolog.Nop())
			a.soloUntil.Store(uint64(c.solo))
			l := &loop{a: a, group: make([]*txnInfo, c.txns), groupBytes: c.bytes, groupSince: time.Now().Add(-c.age)}
			if got := l.mayGrow(&txnInfo{finalLSN: c.final}); got != c.mayGrow {
				t.Errorf("mayGrow = %t, want %t", got, c.mayGrow)
			}
		})
	}
	// group_max 1: every transaction alone.
	l := &loop{a: New(Config{MaxGroupTxns: 1}, zerolog.Nop()), group: make([]*txnInfo, 1), groupSince: time.Now()}
	if l.mayGrow(&txnInfo{finalLSN: 1}) {
		t.Errorf("with MaxGroupTxns 1 a group grew")
	}
}
