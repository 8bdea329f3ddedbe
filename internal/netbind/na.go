package netbind

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
)

// allNodes is the link-local all-nodes multicast group, the destination of
// unsolicited neighbour advertisements (RFC 4861 section 7.2.6).
var allNodes = netip.MustParseAddr("ff02::1")

// naSender sends unsolicited neighbour advertisements for one address.
type naSender struct {
	conn   *ndp.Conn
	msg    *ndp.NeighborAdvertisement
	source netip.Addr // address the advertisements are sent from
}

// newNASender opens an ICMPv6 socket on ifi. The source address is the VIP
// itself (it was added with IFA_F_NODAD, so it is usable at once); if that
// bind fails the interface's link-local address is used instead. Either is
// an address of the sending interface, as RFC 4861 requires.
func newNASender(ifi *net.Interface, ip netip.Addr) (*naSender, error) {
	conn, src, err := ndp.Listen(ifi, ndp.Addr(ip.String()))
	if err != nil {
		var llErr error
		conn, src, llErr = ndp.Listen(ifi, ndp.LinkLocal)
		if llErr != nil {
			return nil, fmt.Errorf("opening ICMPv6 socket: %w (link-local fallback: %w)", err, llErr)
		}
	}
	msg := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: ip,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      ifi.HardwareAddr,
		}},
	}
	return &naSender{conn: conn, msg: msg, source: src}, nil
}

func (n *naSender) send() error {
	if err := n.conn.WriteTo(n.msg, nil, allNodes); err != nil {
		return fmt.Errorf("sending neighbour advertisement: %w", err)
	}
	return nil
}

func (n *naSender) Close() error { return n.conn.Close() }
