package quorum

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event is a change of the leader key seen by a watch.
type Event struct {
	Deleted  bool
	Leader   Leader // the new value; zero when Deleted
	Revision int64
	Err      error // the watch failed (compacted, or a value that does not decode)
}

// WatchLeader reports every change of the leader key after revision after
// (0: from now) until ctx ends; the channel is closed then. Passing the
// revision of the last read means no change is missed in between. The
// goroutine it starts is owned by ctx. Without an etcd leader the watch
// fails (an Event with Err) instead of waiting silently.
func (c *Client) WatchLeader(ctx context.Context, after int64) <-chan Event {
	out := make(chan Event)
	var opts []clientv3.OpOption
	if after > 0 {
		opts = append(opts, clientv3.WithRev(after+1))
	}
	wch := c.cli.Watch(clientv3.WithRequireLeader(ctx), c.leaderKey, opts...)
	go func() {
		defer close(out)
		for resp := range wch {
			var evs []Event
			if err := resp.Err(); err != nil {
				evs = append(evs, Event{Err: err})
			}
			for _, ev := range resp.Events {
				e := Event{Revision: ev.Kv.ModRevision}
				if ev.Type == clientv3.EventTypeDelete {
					e.Deleted = true
					e.Revision = resp.Header.Revision
				} else if l, err := decodeLeader(ev.Kv.Value); err != nil {
					e.Err = err
				} else {
					e.Leader = l
				}
				evs = append(evs, e)
			}
			for _, e := range evs {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
