package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
)

// soakDuration: SOAK_DURATION (make soak sets 10m); 60 s otherwise, as in CI.
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		must(t, err)
		return d
	}
	return 60 * time.Second
}

type sample struct {
	rss        [2]float64
	goroutines [2]float64
}

var (
	rssRE = regexp.MustCompile(`(?m)^process_resident_memory_bytes ([0-9.e+]+)$`)
	grRE  = regexp.MustCompile(`(?m)^go_goroutines ([0-9.e+]+)$`)
)

func (np *netPair) sampleDaemons(t *testing.T) (sample, error) {
	var s sample
	for i, n := range np.Nodes {
		req := fmt.Sprintf("%s/metrics", n.APIURL())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := np.Client(n).HTTP.Get(req)
		cancel()
		_ = ctx
		if err != nil {
			return s, err
		}
		b := make([]byte, 1<<20)
		k, _ := resp.Body.Read(b)
		for k < len(b) {
			m, err := resp.Body.Read(b[k:])
			k += m
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		body := string(b[:k])
		if m := rssRE.FindStringSubmatch(body); m != nil {
			s.rss[i], _ = strconv.ParseFloat(m[1], 64)
		}
		if m := grRE.FindStringSubmatch(body); m != nil {
			s.goroutines[i], _ = strconv.ParseFloat(m[1], 64)
		}
	}
	return s, nil
}

// Soak: continuous writes through the VIP and directly to each node, a
// switchover every few seconds; no write lost, never two writers, the
// daemons' memory and goroutine count flat.
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	np := newNetPair(t, harness.Options{})
	ctx := ctxFor(t, dur+5*time.Minute)
	np.start(ctx, t)
	ld := np.startLoad(ctx, t)

	var samples []sample
	end := time.Now().Add(dur)
	switches := 0
	for time.Now().Before(end) {
		sleepCtx(ctx, 3*time.Second)
		active, _ := np.settled(ctx, t)
		if s, err := np.sampleDaemons(t); err == nil {
			samples = append(samples, s)
		}
		code, out := np.promote(ctx, t, active)
		if code != 0 {
			t.Fatalf("switchover %d: exit %d\n%s", switches+1, code, out)
		}
		switches++
	}
	np.settled(ctx, t)
	sleepCtx(ctx, time.Second)
	res := ld.finish(ctx, t)
	acks, directAcks := res.vip, res.direct
	if len(samples) < 4 {
		t.Fatalf("only %d samples of the daemons", len(samples))
	}
	third := len(samples) / 3
	avg := func(from, to, node int, f func(sample, int) float64) float64 {
		sum := 0.0
		for _, s := range samples[from:to] {
			sum += f(s, node)
		}
		return sum / float64(to-from)
	}
	rss := func(s sample, i int) float64 { return s.rss[i] }
	grs := func(s sample, i int) float64 { return s.goroutines[i] }
	for i, n := range np.Nodes {
		r0, r1 := avg(0, max(third, 1), i, rss), avg(len(samples)-max(third, 1), len(samples), i, rss)
		g0, g1 := avg(0, max(third, 1), i, grs), avg(len(samples)-max(third, 1), len(samples), i, grs)
		t.Logf("%s: RSS %.1f → %.1f MiB, goroutines %.0f → %.0f (first and last third of %d samples)", n.Name, r0/(1<<20), r1/(1<<20), g0, g1, len(samples))
		if r1-r0 > 20<<20 {
			t.Errorf("%s: RSS grew by %.1f MiB", n.Name, (r1-r0)/(1<<20))
		}
		if g1-g0 > 20 {
			t.Errorf("%s: goroutines grew by %.0f", n.Name, g1-g0)
		}
	}
	if os.Getenv("SOAK_DUMP") != "" {
		for _, n := range np.Nodes {
			resp, err := np.Client(n).HTTP.Do(mustReq(t, n.APIURL()+"/v1/debug/pprof/goroutine?debug=1", np.Token))
			must(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("%s goroutines:\n%s", n.Name, b)
		}
	}
	pause := ld.longestPause(t, acks)
	t.Logf("%s: %d switchovers, %d writes through the VIP and %d direct, none lost; longest pause %s",
		dur, switches, len(acks), len(directAcks), pause.Round(time.Millisecond))
}

func mustReq(t *testing.T, url, token string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
