package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/switchover"
)

// routes registers the authenticated handshake and promote endpoints.
func (d *Daemon) routes(s *api.Server) {
	s.Handle("POST "+api.PathPromote, http.HandlerFunc(d.httpPromote))
	s.Handle("POST "+api.PathFailover, jsonHandler(d.forceTakeover))
	s.Handle("POST "+api.PathPeerRequest, jsonHandler(d.drv.OnRequest))
	s.Handle("POST "+api.PathPeerSwitchOut, jsonHandler(d.drv.OnSwitchOut))
	s.Handle("POST "+api.PathPeerResolve, jsonHandler(func(_ context.Context, r api.PeerResolve) (api.PeerResolution, error) {
		return d.drv.OnResolve(r)
	}))
	s.Handle("POST "+api.PathPeerAbort, jsonHandler(func(_ context.Context, r api.PeerAbort) (struct{}, error) {
		return struct{}{}, d.drv.OnAbort(r)
	}))
	s.Handle("GET "+api.PathPeerStatus, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, d.Status(r.Context()))
	}))
}

// jsonHandler decodes a JSON body (strictly), calls f and encodes the
// answer. A rejected handshake message is 409 and changed nothing; a
// message from the wrong node is 403.
func jsonHandler[In, Out any](f func(context.Context, In) (Out, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in In
		if err := api.Decode(r.Body, &in); err != nil {
			api.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		out, err := f(r.Context(), in)
		switch {
		case errors.Is(err, switchover.ErrWrongPeer):
			api.WriteJSON(w, http.StatusForbidden, map[string]string{"error": err.Error()})
		case errors.Is(err, handshake.ErrStaleEpoch), errors.Is(err, handshake.ErrUnknownSwitch), errors.Is(err, handshake.ErrNotAllowed):
			api.WriteJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		case err != nil:
			api.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		default:
			api.WriteJSON(w, http.StatusOK, out)
		}
	})
}

// httpPromote streams the switchover as NDJSON: a line per step as it
// happens, then the result. On the standby it relays the request to the
// active node, which drives the handshake.
func (d *Daemon) httpPromote(w http.ResponseWriter, r *http.Request) {
	var req api.PromoteRequest
	if r.ContentLength != 0 {
		if err := api.Decode(r.Body, &req); err != nil {
			api.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	events := make(chan api.PromoteEvent, 64)
	emit := func(ev api.PromoteEvent) {
		select {
		case events <- ev:
		default: // a slow reader loses progress lines, never the result
		}
	}
	done := make(chan api.PromoteResult, 1)
	if !d.goOwned(func() {
		if handshake.WantOf(d.state()).RelayPromote {
			done <- d.relayPromote(r.Context(), req, emit)
			return
		}
		done <- d.drv.Promote(r.Context(), req.DryRun, emit)
	}) {
		done <- api.PromoteResult{Outcome: api.PromoteAborted, ExitCode: 1, Reason: "the daemon is stopping; nothing changed"}
	}
	for {
		select {
		case ev := <-events:
			_ = enc.Encode(ev)
			if flusher != nil {
				flusher.Flush()
			}
		case res := <-done:
			for len(events) > 0 {
				_ = enc.Encode(<-events)
			}
			_ = enc.Encode(api.PromoteEvent{Result: &res})
			return
		}
	}
}

// relayPromote asks the active node to promote this one.
func (d *Daemon) relayPromote(ctx context.Context, req api.PromoteRequest, emit func(api.PromoteEvent)) api.PromoteResult {
	emit(api.PromoteEvent{Message: "this node is the standby: asking " + d.conf().Peer.Name + " to switch over"})
	res, err := d.peer.Promote(ctx, req, emit)
	switch {
	case errors.Is(err, api.ErrOutcomeUnknown):
		return api.PromoteResult{Outcome: api.PromoteUnknown, ExitCode: 3, Reason: "relaying to " + d.conf().Peer.Name + ": " + err.Error()}
	case err != nil:
		return api.PromoteResult{Outcome: api.PromoteRefused, ExitCode: 1, Reason: "relaying to " + d.conf().Peer.Name + ": " + err.Error()}
	}
	return res
}
