package quorum

import (
	"testing"
	"time"
)

func TestSelfFenceDeadlineIsTwoThirdsOfTTLAfterSend(t *testing.T) {
	sent := time.Now()
	for _, tc := range []struct{ ttl, want time.Duration }{
		{3 * time.Second, 2 * time.Second},
		{2 * time.Second, 2 * time.Second * 2 / 3},
		{9 * time.Second, 6 * time.Second},
	} {
		if got := selfFenceDeadline(sent, tc.ttl).Sub(sent); got != tc.want {
			t.Errorf("ttl %s: deadline %s after the send, want %s", tc.ttl, got, tc.want)
		}
	}
}

func TestLeaderValueRoundTrip(t *testing.T) {
	l := Leader{Node: "node-a", Epoch: 7}
	got, err := decodeLeader([]byte(l.encode()))
	if err != nil || got != l {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", l, got, err)
	}
	for _, bad := range []string{"", "{}", "node-a", `{"epoch":1}`} {
		if _, err := decodeLeader([]byte(bad)); err == nil {
			t.Errorf("decodeLeader(%q) succeeded", bad)
		}
	}
}
