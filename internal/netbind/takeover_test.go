package netbind_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/sys/unix"

	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// takeover moves the VIP from host a to host b the way a failover does and
// checks that the client follows: its neighbour entry for the VIP must
// switch to b's MAC because of b's announcements alone (the client sends
// nothing to the VIP between the release and the check, and its cache is
// never flushed), and traffic must then reach b.
func takeover(t *testing.T, topo *pgtest.NetTopology, vip string, prefixLen int, etherType int) *capture {
	a, b, client := topo.Hosts["a"], topo.Hosts["b"], topo.Hosts["client"]
	cidr := netip.PrefixFrom(netip.MustParseAddr(vip), prefixLen).String()
	va, vb := newVIP(t, cidr), newVIP(t, cidr)
	serveIdentity(t, topo)

	if err := inHost(t, a, va.Bind); err != nil {
		t.Fatalf("Bind on a: %v", err)
	}
	// Populate the client's neighbour cache with a's MAC.
	eventually(t, 5*time.Second, "client pings the VIP on a", func() (bool, string) {
		err := pgtest.NSPing(client.NS, vip, 500*time.Millisecond)
		return err == nil, errString(err)
	})
	if who, err := whoAnswers(client, vip); who != "a" {
		t.Fatalf("VIP answered by %q (%v), want a", who, err)
	}
	if mac := neigh(t, topo, vip); !bytes.Equal(mac, a.MAC) {
		t.Fatalf("client neighbour entry for %s = %v, want a's %v", vip, mac, a.MAC)
	}

	capt := startCapture(t, client, etherType)
	if err := inHost(t, a, va.Release); err != nil {
		t.Fatalf("Release on a: %v", err)
	}
	if err := inHost(t, b, vb.Bind); err != nil {
		t.Fatalf("Bind on b: %v", err)
	}
	// The burst has been sent when Bind returns; allow the client's kernel
	// a moment to process it, but send it nothing.
	eventually(t, 2*time.Second, "client neighbour entry carries b's MAC", func() (bool, string) {
		mac := neigh(t, topo, vip)
		return bytes.Equal(mac, b.MAC), "entry " + mac.String()
	})
	eventually(t, 5*time.Second, "client pings the VIP on b", func() (bool, string) {
		err := pgtest.NSPing(client.NS, vip, 500*time.Millisecond)
		return err == nil, errString(err)
	})
	if who, err := whoAnswers(client, vip); who != "b" {
		t.Fatalf("after takeover VIP answered by %q (%v), want b", who, err)
	}
	return capt
}

func TestARPTakeover(t *testing.T) {
	topo := pgtest.NewNetTopology(t, "a", "b", "client")
	vip := topo.FreeAddr(0)
	capt := takeover(t, topo, vip, topo.PrefixLen(), int(ethernet.EtherTypeARP))

	// Each of the 3 steps sends a gratuitous request and a gratuitous reply.
	b := topo.Hosts["b"]
	want := netip.MustParseAddr(vip)
	for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		n := capt.count(func(frame []byte) bool {
			var f ethernet.Frame
			var p arp.Packet
			if f.UnmarshalBinary(frame) != nil || p.UnmarshalBinary(f.Payload) != nil {
				return false
			}
			return p.Operation == op && bytes.Equal(f.Destination, ethernet.Broadcast) &&
				bytes.Equal(f.Source, b.MAC) && bytes.Equal(p.SenderHardwareAddr, b.MAC) &&
				p.SenderIP == want && p.TargetIP == want
		})
		if n != 3 {
			t.Errorf("client saw %d gratuitous ARP %v from b, want 3", n, op)
		}
	}
}

// TestIPv6Takeover moves an IPv6 VIP. Linux updates an existing neighbour
// entry from an unsolicited advertisement with the override flag
// (ndisc_recv_na: the new link-layer address is taken and the entry becomes
// STALE), so the same assertion as for ARP holds. The advertisements
// themselves are captured and checked field by field.
func TestIPv6Takeover(t *testing.T) {
	topo := pgtest.NewNetTopology(t, "a", "b", "client")
	if !topo.Subnet6.IsValid() {
		if os.Getenv("CI") == "true" {
			t.Fatal("kernel without IPv6 (CI=true, not skipping)")
		}
		t.Skip("kernel without IPv6; CI=true makes this fatal")
	}
	vip := topo.FreeAddr6(0)
	capt := takeover(t, topo, vip, topo.PrefixLen6(), unix.ETH_P_IPV6)

	b := topo.Hosts["b"]
	want := netip.MustParseAddr(vip)
	n := capt.count(func(frame []byte) bool {
		na, ok := parseNA(frame, b.MAC)
		if !ok || !na.Override || na.Solicited || na.TargetAddress != want || len(na.Options) != 1 {
			return false
		}
		lla, ok := na.Options[0].(*ndp.LinkLayerAddress)
		return ok && lla.Direction == ndp.Target && bytes.Equal(lla.Addr, b.MAC)
	})
	if n != 3 {
		t.Errorf("client saw %d unsolicited neighbour advertisements from b, want 3", n)
	}
}

// parseNA decodes frame as Ethernet/IPv6/ICMPv6 neighbour advertisement
// sent by src to ff02::1 with hop limit 255.
func parseNA(frame []byte, src net.HardwareAddr) (*ndp.NeighborAdvertisement, bool) {
	var f ethernet.Frame
	if f.UnmarshalBinary(frame) != nil || !bytes.Equal(f.Source, src) || len(f.Payload) < 40 {
		return nil, false
	}
	ip := f.Payload
	dst, _ := netip.AddrFromSlice(ip[24:40])
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if ip[6] != unix.IPPROTO_ICMPV6 || ip[7] != 255 || dst != netip.MustParseAddr("ff02::1") || len(ip) < 40+plen {
		return nil, false
	}
	m, err := ndp.ParseMessage(ip[40 : 40+plen])
	if err != nil {
		return nil, false
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	return na, ok
}

// neigh reads the client's neighbour entry for ip without sending anything.
func neigh(t *testing.T, topo *pgtest.NetTopology, ip string) net.HardwareAddr {
	t.Helper()
	mac, err := topo.Neigh("client", ip)
	if err != nil {
		t.Fatalf("reading client neighbour cache: %v", err)
	}
	return mac
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
