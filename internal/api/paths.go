package api

import (
	"context"
	"net/http"
)

// The paths of the authenticated API (SPEC §6): the command line's and the
// peer daemon's. The daemon registers them; the clients below call them.
const (
	PathStatus        = "/v1/status"
	PathPromote       = "/v1/promote"
	PathFailover      = "/v1/failover"
	PathPeerRequest   = "/v1/peer/request"
	PathPeerSwitchOut = "/v1/peer/switch-out"
	PathPeerResolve   = "/v1/peer/resolve"
	PathPeerAbort     = "/v1/peer/abort"
	PathPeerStatus    = "/v1/peer/status"
)

// Request asks the standby to switch (SPEC §3 step 3) and waits for its
// answer, bounded by ctx.
func (c *Client) Request(ctx context.Context, req PeerRequest) (PeerAnswer, error) {
	var ans PeerAnswer
	err := c.Do(ctx, http.MethodPost, PathPeerRequest, req, &ans)
	return ans, err
}

// SwitchOut tells the standby that the VIP is released (step 5) and waits
// until it is active, bounded by ctx.
func (c *Client) SwitchOut(ctx context.Context, req PeerSwitchOut) (PeerActive, error) {
	var ans PeerActive
	err := c.Do(ctx, http.MethodPost, PathPeerSwitchOut, req, &ans)
	return ans, err
}

// Resolve asks the peer what became of a switchover.
func (c *Client) Resolve(ctx context.Context, req PeerResolve) (PeerResolution, error) {
	var ans PeerResolution
	err := c.Do(ctx, http.MethodPost, PathPeerResolve, req, &ans)
	return ans, err
}

// Abort tells the peer that a switchover is abandoned.
func (c *Client) Abort(ctx context.Context, req PeerAbort) error {
	return c.Do(ctx, http.MethodPost, PathPeerAbort, req, nil)
}

// FailoverRequest is pgswitch failover's request to the standby's own
// daemon (SPEC §9 rule 4).
type FailoverRequest struct {
	AcceptDataLoss bool `json:"accept_data_loss"`
}

// Failover asks the local daemon to take over without the proof of
// catch-up, and waits for the result, bounded by ctx.
func (c *Client) Failover(ctx context.Context, req FailoverRequest) (PromoteResult, error) {
	var res PromoteResult
	err := c.Do(ctx, http.MethodPost, PathFailover, req, &res)
	return res, err
}
