package quorum

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lease is the holder's etcd lease. It is renewed with one KeepAliveOnce
// per Renew (never the library's background keep-alive), so that the
// holder knows when it sent its last successful renewal, on its own
// monotonic clock: etcd counts the TTL from when it received it, later.
type Lease struct {
	c   *Client
	id  clientv3.LeaseID
	ttl time.Duration

	mu       sync.Mutex
	lastSent time.Time // monotonic; the send time of the last successful grant or renewal
}

// SelfFenceFraction of the TTL after the last successful renewal's send
// time is when the holder must have fenced (SPEC §9 rule 2).
const selfFenceNum, selfFenceDen = 2, 3

// selfFenceDeadline is sent + 2/3 × ttl.
func selfFenceDeadline(sent time.Time, ttl time.Duration) time.Time {
	return sent.Add(ttl * selfFenceNum / selfFenceDen)
}

// Grant creates a lease of the configured TTL; its grant counts as the
// first renewal, from the time the request was sent.
func (c *Client) Grant(ctx context.Context) (*Lease, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	sent := time.Now()
	resp, err := c.cli.Grant(ctx, int64(c.s.LeaseTTL/time.Second))
	if err != nil {
		return nil, fmt.Errorf("granting a lease of %s: %w", c.s.LeaseTTL, err)
	}
	return &Lease{c: c, id: resp.ID, ttl: time.Duration(resp.TTL) * time.Second, lastSent: sent}, nil
}

// ID is the lease's etcd id.
func (l *Lease) ID() int64 { return int64(l.id) }

// TTL is the lease's TTL as etcd granted it.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Renew sends one renewal; on success the send time becomes
// LastRenewalSent. ErrLostLease when etcd no longer knows the lease.
func (l *Lease) Renew(ctx context.Context) error {
	ctx, cancel := l.c.call(ctx)
	defer cancel()
	sent := time.Now()
	resp, err := l.c.cli.KeepAliveOnce(ctx, l.id)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) || (err == nil && resp.TTL <= 0) {
		return fmt.Errorf("renewing lease %x: %w", int64(l.id), ErrLostLease)
	}
	if err != nil {
		return fmt.Errorf("renewing lease %x: %w", int64(l.id), err)
	}
	l.mu.Lock()
	if sent.After(l.lastSent) {
		l.lastSent = sent
	}
	l.mu.Unlock()
	return nil
}

// LastRenewalSent is the send time (monotonic) of the last successful
// renewal, or of the grant.
func (l *Lease) LastRenewalSent() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSent
}

// SelfFenceDeadline is LastRenewalSent + 2/3 × TTL: the holder that has not
// renewed by then must have stopped serving.
func (l *Lease) SelfFenceDeadline() time.Time {
	return selfFenceDeadline(l.LastRenewalSent(), l.ttl)
}

// RenewEvery renews the lease every interval until ctx ends or the lease is
// lost; it calls onError (if not nil) with each failed renewal. It returns
// ErrLostLease (wrapped) or ctx's error. The caller runs and owns it.
func (l *Lease) RenewEvery(ctx context.Context, interval time.Duration, onError func(error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := l.Renew(ctx); err != nil {
			if onError != nil {
				onError(err)
			}
			if errors.Is(err, ErrLostLease) {
				return err
			}
		}
	}
}

// Revoke ends the lease, deleting the keys bound to it.
func (l *Lease) Revoke(ctx context.Context) error {
	ctx, cancel := l.c.call(ctx)
	defer cancel()
	if _, err := l.c.cli.Revoke(ctx, l.id); err != nil {
		return fmt.Errorf("revoking lease %x: %w", int64(l.id), err)
	}
	return nil
}
