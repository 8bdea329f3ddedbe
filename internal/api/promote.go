package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrOutcomeUnknown: the promote stream broke after the switchover had
// begun; only the nodes' status can tell how it ended.
var ErrOutcomeUnknown = errors.New("the switchover began but its outcome is unknown")

// Promote calls POST /v1/promote and passes every event to emit; it
// returns the final result. Used by the command line and by the relay. An
// error after the first event wraps ErrOutcomeUnknown.
func (c *Client) Promote(ctx context.Context, req PromoteRequest, emit func(PromoteEvent)) (PromoteResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return PromoteResult{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+PathPromote, bytes.NewReader(body))
	if err != nil {
		return PromoteResult{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if len(c.Token) > 0 {
		hreq.Header.Set("Authorization", "Bearer "+string(c.Token))
	}
	hc := *c.HTTP
	hc.Timeout = 0 // the stream lasts as long as the switchover; ctx bounds it
	resp, err := hc.Do(hreq)
	if err != nil {
		return PromoteResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return PromoteResult{}, &HTTPError{Code: resp.StatusCode, Body: string(b)}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	started := false
	broke := func(err error) error {
		if started {
			return fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
		}
		return err
	}
	for sc.Scan() {
		var ev PromoteEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return PromoteResult{}, broke(err)
		}
		if ev.Result != nil {
			return *ev.Result, nil
		}
		if ev.Step != nil {
			started = true
		}
		emit(ev)
	}
	if err := sc.Err(); err != nil {
		return PromoteResult{}, broke(err)
	}
	return PromoteResult{}, broke(errors.New("the promote stream ended without a result"))
}
