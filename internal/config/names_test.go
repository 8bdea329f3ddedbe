package config_test

import (
	"slices"
	"testing"

	"github.com/pgswitch/pgswitch/internal/config"
)

func TestSQLNames(t *testing.T) {
	cases := []struct {
		node, peer                      string
		slot, peerSlot, origin, appName string
	}{
		{"db-1", "db-2", "pgswitch_db_1", "pgswitch_db_2", "pgswitch_from_db_2", "pgswitch_db_1"},
		{"a", "b", "pgswitch_a", "pgswitch_b", "pgswitch_from_b", "pgswitch_a"},
		{"east-1-a", "west_2", "pgswitch_east_1_a", "pgswitch_west_2", "pgswitch_from_west_2", "pgswitch_east_1_a"},
	}
	for _, tc := range cases {
		c := &config.Config{Node: config.NodeConfig{Name: tc.node}, Peer: config.PeerConfig{Name: tc.peer}}
		got := []string{c.SlotName(), c.PeerSlotName(), c.OriginName(), c.ApplicationName()}
		want := []string{tc.slot, tc.peerSlot, tc.origin, tc.appName}
		if !slices.Equal(got, want) {
			t.Errorf("node %s peer %s: slot, peer slot, origin, application = %q, want %q", tc.node, tc.peer, got, want)
		}
	}
	// The peer's SlotName is this node's PeerSlotName.
	a := &config.Config{Node: config.NodeConfig{Name: "db-1"}, Peer: config.PeerConfig{Name: "db-2"}}
	b := &config.Config{Node: config.NodeConfig{Name: "db-2"}, Peer: config.PeerConfig{Name: "db-1"}}
	if a.PeerSlotName() != b.SlotName() || b.PeerSlotName() != a.SlotName() {
		t.Errorf("slot names do not pair up: %s/%s vs %s/%s", a.SlotName(), a.PeerSlotName(), b.SlotName(), b.PeerSlotName())
	}
}
