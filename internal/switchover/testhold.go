package switchover

import (
	"os"
	"strings"
	"time"

	"github.com/pgswitch/pgswitch/internal/handshake"
)

// testHoldEnv is fault injection for the integration tests, never for
// production: PGSWITCHTEST_HOLD="SWITCHING_OUT=30s,AGREE_SWITCH=5s" makes the
// daemon wait that long right after it has persisted entering a state and
// before it acts, so that a test can kill it at exactly that step. The
// name lies outside the PGSWITCH_ configuration namespace on purpose.
const testHoldEnv = "PGSWITCHTEST_HOLD"

func parseTestHolds(v string) map[handshake.State]time.Duration {
	holds := map[handshake.State]time.Duration{}
	for _, part := range strings.Split(v, ",") {
		st, dur, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		if d, err := time.ParseDuration(dur); err == nil && handshake.State(st).Valid() {
			holds[handshake.State(st)] = d
		}
	}
	return holds
}

var testHolds = parseTestHolds(os.Getenv(testHoldEnv))

func (d *Driver) testHold(st handshake.State) {
	dur, ok := testHolds[st]
	if !ok {
		return
	}
	d.log.Warn().Str("state", string(st)).Dur("hold", dur).Msg("test hold: pausing after persisting the state (" + testHoldEnv + ")")
	select {
	case <-time.After(dur):
	case <-d.env.Context().Done():
	}
}
