package netbind

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// garpSender sends gratuitous ARP through an AF_PACKET socket bound to the
// interface.
type garpSender struct {
	conn   *packet.Conn
	frames [][]byte // request form, then reply form
}

// newGARPSender prepares both gratuitous ARP forms for ip on ifi.
//
// Request form: operation 1, target hardware address zero (RFC 5227 ARP
// announcement). Reply form: operation 2, target hardware address equal to
// the sender's, which Linux requires to treat a reply as gratuitous
// (net/ipv4/arp.c, arp_is_garp) and thus to override a fresh cache entry.
// Both go to the Ethernet broadcast address.
func newGARPSender(ifi *net.Interface, ip netip.Addr) (*garpSender, error) {
	mac := ifi.HardwareAddr
	request, err := arpFrame(arp.OperationRequest, mac, ip, make(net.HardwareAddr, len(mac)))
	if err != nil {
		return nil, err
	}
	reply, err := arpFrame(arp.OperationReply, mac, ip, mac)
	if err != nil {
		return nil, err
	}
	conn, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), nil)
	if err != nil {
		return nil, fmt.Errorf("opening ARP socket: %w", err)
	}
	return &garpSender{conn: conn, frames: [][]byte{request, reply}}, nil
}

// arpFrame marshals an Ethernet broadcast frame carrying an ARP packet whose
// sender and target protocol addresses are both ip.
func arpFrame(op arp.Operation, mac net.HardwareAddr, ip netip.Addr, targetMAC net.HardwareAddr) ([]byte, error) {
	p, err := arp.NewPacket(op, mac, ip, targetMAC, ip)
	if err != nil {
		return nil, fmt.Errorf("building ARP packet: %w", err)
	}
	payload, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("building ARP packet: %w", err)
	}
	f := ethernet.Frame{
		Destination: ethernet.Broadcast,
		Source:      mac,
		EtherType:   ethernet.EtherTypeARP,
		Payload:     payload,
	}
	b, err := f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("building Ethernet frame: %w", err)
	}
	return b, nil
}

func (g *garpSender) send() error {
	to := &packet.Addr{HardwareAddr: ethernet.Broadcast}
	for _, f := range g.frames {
		if _, err := g.conn.WriteTo(f, to); err != nil {
			return fmt.Errorf("sending gratuitous ARP: %w", err)
		}
	}
	return nil
}

func (g *garpSender) Close() error { return g.conn.Close() }
