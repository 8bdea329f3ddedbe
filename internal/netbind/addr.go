package netbind

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dumpRetries bounds the retries of a netlink dump that the kernel reported
// as interrupted (the address list changed while it was being read).
const dumpRetries = 5

// Bind adds the VIP to the interface and announces it. Adding is idempotent
// (RTM_NEWADDR with NLM_F_REPLACE); IPv6 addresses are added with
// IFA_F_NODAD so that they are usable at once. If the address was added but
// the announcement failed (or ctx ended during the burst) the error wraps
// ErrNotAnnounced and the VIP is held. A missing interface yields an error
// wrapping ErrInterfaceNotFound.
func (v *VIP) Bind(ctx context.Context) error {
	ifi, err := v.add(ctx)
	if err != nil || ifi == nil {
		return err
	}
	if err := v.announce(ctx, ifi); err != nil {
		return fmt.Errorf("binding VIP %s on %s: %w: %w", v.prefix, v.iface, ErrNotAnnounced, err)
	}
	return nil
}

// Add adds the VIP to the interface without announcing it (the caller
// announces, for example in the background so that the node does not wait
// for the whole burst). Idempotent, like Bind.
func (v *VIP) Add(ctx context.Context) error {
	_, err := v.add(ctx)
	return err
}

func (v *VIP) add(ctx context.Context) (*net.Interface, error) {
	if v.Disabled() {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("binding VIP %s on %s: %w", v.prefix, v.iface, err)
	}
	var already bool
	ifi, err := v.withLink(func(h *netlink.Handle, link netlink.Link) error {
		addrs, err := v.matchingAddrs(h, link)
		if err != nil {
			return err
		}
		already = len(addrs) > 0
		return h.AddrReplace(link, v.netlinkAddr())
	})
	if err != nil {
		return nil, fmt.Errorf("binding VIP %s on %s: %w", v.prefix, v.iface, err)
	}
	if already {
		v.logger(ctx).Debug().Msg("VIP already bound")
	} else {
		v.logger(ctx).Info().Msg("VIP bound")
	}
	return ifi, nil
}

// Release removes the VIP from the interface. It is idempotent: an address
// that is already gone, or an interface that no longer exists, is success.
// The address is matched by IP, whatever its prefix length on the link.
func (v *VIP) Release(ctx context.Context) error {
	if v.Disabled() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("releasing VIP %s on %s: %w", v.prefix, v.iface, err)
	}
	removed := 0
	_, err := v.withLink(func(h *netlink.Handle, link netlink.Link) error {
		addrs, err := v.matchingAddrs(h, link)
		if err != nil {
			return err
		}
		for i := range addrs {
			err := h.AddrDel(link, &addrs[i])
			// Someone else removed it between list and delete.
			if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
				return err
			}
			removed++
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrInterfaceNotFound):
		v.logger(ctx).Warn().Msg("VIP interface missing; nothing to release")
		return nil
	case err != nil:
		return fmt.Errorf("releasing VIP %s on %s: %w", v.prefix, v.iface, err)
	case removed == 0:
		v.logger(ctx).Debug().Msg("VIP already absent")
	default:
		v.logger(ctx).Info().Msg("VIP released")
	}
	return nil
}

// Held reports whether the VIP's IP is assigned to the interface (under any
// prefix length). A missing interface yields false and an error wrapping
// ErrInterfaceNotFound.
func (v *VIP) Held(ctx context.Context) (bool, error) {
	if v.Disabled() {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("checking VIP %s on %s: %w", v.prefix, v.iface, err)
	}
	held := false
	_, err := v.withLink(func(h *netlink.Handle, link netlink.Link) error {
		addrs, err := v.matchingAddrs(h, link)
		held = len(addrs) > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("checking VIP %s on %s: %w", v.prefix, v.iface, err)
	}
	return held, nil
}

// withLink opens a netlink handle in the calling thread's namespace, looks
// the interface up and runs fn. It returns the interface description used
// for announcements.
func (v *VIP) withLink(fn func(*netlink.Handle, netlink.Link) error) (*net.Interface, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink handle: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(v.iface)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("%w: %s", ErrInterfaceNotFound, v.iface)
		}
		return nil, fmt.Errorf("looking up interface %s: %w", v.iface, err)
	}
	if err := fn(h, link); err != nil {
		return nil, err
	}
	a := link.Attrs()
	return &net.Interface{Index: a.Index, MTU: a.MTU, Name: a.Name,
		HardwareAddr: a.HardwareAddr, Flags: a.Flags}, nil
}

// matchingAddrs lists the addresses of link that carry the VIP's IP.
func (v *VIP) matchingAddrs(h *netlink.Handle, link netlink.Link) ([]netlink.Addr, error) {
	family := netlink.FAMILY_V4
	if v.prefix.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	var (
		all []netlink.Addr
		err error
	)
	for range dumpRetries {
		if all, err = h.AddrList(link, family); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	var out []netlink.Addr
	for _, a := range all {
		if a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && ip.Unmap() == v.prefix.Addr() {
			out = append(out, a)
		}
	}
	return out, nil
}

// netlinkAddr builds a fresh request (AddrReplace mutates its argument).
func (v *VIP) netlinkAddr() *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{
		IP:   v.prefix.Addr().AsSlice(),
		Mask: net.CIDRMask(v.prefix.Bits(), v.prefix.Addr().BitLen()),
	}}
	if v.prefix.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}
