package netbind

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
)

// sender transmits one announcement step. Implementations hold an open
// socket for the duration of one burst.
type sender interface {
	send() error
	Close() error
}

// Announce tells the segment that this host now answers for the VIP:
// GARPCount announcements, GARPInterval apart. For IPv4 each step sends a
// gratuitous ARP request and a gratuitous ARP reply (sender and target
// protocol address both the VIP, sender hardware address the interface's,
// broadcast); for IPv6 each step sends an unsolicited neighbour
// advertisement (override flag, target the VIP, target link-layer address
// option) to ff02::1. Announce fails with ErrNotHeld if the address is not
// on the interface, and returns ctx's error if ctx ends during the burst.
// Interfaces without an Ethernet address (tun, wireguard) have no neighbour
// caches to update; Announce logs and succeeds on them.
func (v *VIP) Announce(ctx context.Context) error {
	if v.Disabled() {
		return nil
	}
	var held bool
	ifi, err := v.withLink(func(h *netlink.Handle, link netlink.Link) error {
		addrs, err := v.matchingAddrs(h, link)
		held = len(addrs) > 0
		return err
	})
	if err == nil && !held {
		err = ErrNotHeld
	}
	if err == nil {
		err = v.announce(ctx, ifi)
	}
	if err != nil {
		return fmt.Errorf("announcing VIP %s on %s: %w", v.prefix, v.iface, err)
	}
	return nil
}

// announce runs one burst on ifi. The sockets are opened in the calling
// thread's namespace.
func (v *VIP) announce(ctx context.Context, ifi *net.Interface) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ifi.HardwareAddr) != 6 {
		v.logger(ctx).Warn().Msg("interface has no Ethernet address; announcement skipped")
		return nil
	}
	var (
		s   sender
		err error
	)
	if v.prefix.Addr().Is4() {
		s, err = newGARPSender(ifi, v.prefix.Addr())
	} else {
		var na *naSender
		if na, err = newNASender(ifi, v.prefix.Addr()); err == nil {
			v.logger(ctx).Debug().Str("source", na.source.String()).Msg("sending neighbour advertisements")
			s = na
		}
	}
	if err != nil {
		return err
	}
	defer s.Close()

	var timer *time.Timer
	for i := range v.count {
		if i > 0 {
			if timer == nil {
				timer = time.NewTimer(v.interval)
				defer timer.Stop()
			} else {
				timer.Reset(v.interval)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		if err := s.send(); err != nil {
			return fmt.Errorf("announcement %d of %d: %w", i+1, v.count, err)
		}
	}
	v.logger(ctx).Debug().Int("count", v.count).Msg("VIP announced")
	return nil
}
