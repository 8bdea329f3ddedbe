package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeStrict(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{`{"from":"a","switch_id":"s","epoch":1,"fence_lsn":"0/1"}`, true},
		{`{"from":"a","switch_id":"s","epoch":1,"fence_lsn":"0/1","force":true}`, false},
		{`{"from":"a"} {"from":"b"}`, false},
		{`{"from":"a","epoch":-1}`, false},
		{`{"from":"a","epoch":"1"}`, false},
		{`[]`, false},
		{``, false},
		{`{"from":"a"}   `, true},
	} {
		var m PeerRequest
		err := Decode(strings.NewReader(c.in), &m)
		if (err == nil) != c.ok {
			t.Errorf("Decode(%q): err=%v, want ok=%t", c.in, err, c.ok)
		}
	}
}

// FuzzDecodePeerMessages: no input makes the decoder panic, and whatever it
// accepts survives a round trip unchanged.
func FuzzDecodePeerMessages(f *testing.F) {
	for _, seed := range []string{
		`{"from":"node-a","switch_id":"20261128T082850-18e834a67b61","epoch":1,"fence_lsn":"0/3000060"}`,
		`{"from":"node-a","switch_id":"x","epoch":18446744073709551615}`,
		`{"agree":true,"state":"STANDBY","epoch":2,"steps":[{"node":"b","state":"AGREE_SWITCH","at":"2026-11-28T08:28:50Z","took_ns":5}]}`,
		`{"outcome":"active","state":"ACTIVE","epoch":3,"reverse_lsn":"0/5000028"}`,
		`{"dry_run":true}`,
		`{"from":"\u0000","switch_id":"` + strings.Repeat("x", 1000) + `"}`,
		`{"from":null}`, `{}`, `{"epoch":1e400}`, `{"steps":[null]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		targets := []func() any{
			func() any { return &PeerRequest{} }, func() any { return &PeerAnswer{} },
			func() any { return &PeerSwitchOut{} }, func() any { return &PeerActive{} },
			func() any { return &PeerResolve{} }, func() any { return &PeerResolution{} },
			func() any { return &PeerAbort{} }, func() any { return &PromoteRequest{} },
		}
		for _, mk := range targets {
			v := mk()
			if err := Decode(bytes.NewReader(data), v); err != nil {
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("re-encoding %T: %v", v, err)
			}
			w := mk()
			if err := Decode(bytes.NewReader(b), w); err != nil {
				t.Fatalf("decoding the re-encoded %T: %v\n%s", v, err, b)
			}
			b2, _ := json.Marshal(w)
			if !reflect.DeepEqual(b, b2) {
				t.Fatalf("%T changed in a round trip:\n%s\n%s", v, b, b2)
			}
		}
	})
}
