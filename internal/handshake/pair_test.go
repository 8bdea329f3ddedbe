package handshake

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

const (
	chaosSteps = 60
	// healedSteps bounds the healed run: every pending step completes, each
	// FENCED or SWITCHING_OUT node's query is answered in one round trip, and
	// the pair rests as ACTIVE+STANDBY (20000 seeds needed at most 22).
	healedSteps = 50
)

// runPair runs one schedule: chaos, then a healed network.
func runPair(c chooser, steps int) (*pair, error) {
	p := newPair()
	for s := range steps {
		p.chaos(c)
		if err := p.checkPair(); err != nil {
			return p, fmt.Errorf("safety at chaos step %d: %w", s, err)
		}
	}
	p.logf("-- network healed --")
	if _, err := p.heal(healedSteps); err != nil {
		return p, fmt.Errorf("after healing: %w", err)
	}
	return p, nil
}

// TestPairModel runs thousands of seeded random schedules (seeds 1..3000,
// or PAIRMODEL_SCHEDULES of them); PAIRMODEL_SEED=n replays one.
func TestPairModel(t *testing.T) {
	seeds := make([]uint64, 0, 3000)
	if s := os.Getenv("PAIRMODEL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("parsing PAIRMODEL_SEED: %v", err)
		}
		seeds = append(seeds, v)
	} else {
		n := uint64(3000)
		if v, err := strconv.ParseUint(os.Getenv("PAIRMODEL_SCHEDULES"), 10, 64); err == nil && v > 0 {
			n = v
		}
		for s := range n {
			seeds = append(seeds, s+1)
		}
	}
	failures := 0
	for _, seed := range seeds {
		p, err := runPair(randChooser{rand.New(rand.NewPCG(seed, 9))}, chaosSteps)
		if err != nil {
			failures++
			if failures <= 1 {
				t.Errorf("seed %d (PAIRMODEL_SEED=%d): %v\n%s", seed, seed, err, p.dump())
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d schedules failed", failures, len(seeds))
	}
}

// FuzzPair: the input bytes drive the schedule.
func FuzzPair(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{7, 0, 3, 0, 0, 2, 0, 0, 3, 0, 0, 2, 0, 0, 3, 0, 0})
	f.Add([]byte{7, 0, 3, 0, 0, 2, 0, 0, 6, 1, 3, 0, 0, 9, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &byteChooser{b: b}
		p, err := runPair(c, len(b))
		if err != nil {
			t.Fatalf("%v\n%s", err, p.dump())
		}
	})
}
