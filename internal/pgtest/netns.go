package pgtest

// Network-namespace topology for tests that need real links: a "lan"
// namespace holding a Linux bridge and one namespace per host, each joined
// to the bridge by a veth pair. Nothing here touches the root namespace's
// interfaces, addresses or sysctls; everything lives in namespaces that
// Close deletes.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

const (
	nsRunDir       = "/var/run/netns" // where netns (and `ip netns`) bind-mount named namespaces
	nsHostIface    = "eth0"
	nsBridgeName   = "br0"
	nsMaxHosts     = 89 // host addresses are .11 … .99
	nsReadyTimeout = 10 * time.Second
)

// nsHostNameRE keeps "<prefix>-<host>" (8+7 bytes) within IFNAMSIZ-1 = 15.
var nsHostNameRE = regexp.MustCompile(`^[a-z0-9]{1,7}$`)

// NetTopology is a bridged LAN of host namespaces. Hosts are keyed by the
// names passed to NewNetTopology. All names carry a random per-run Prefix,
// so concurrent test processes do not collide.
type NetTopology struct {
	Prefix  string       // e.g. "pg3fa1c"
	LanNS   string       // namespace holding the bridge: Prefix+"-lan"
	Bridge  string       // bridge name inside LanNS
	Subnet  netip.Prefix // 10.231.X.0/24, X random
	Subnet6 netip.Prefix // random ULA /64; invalid when the kernel lacks IPv6
	Hosts   map[string]*NetHost

	mu         sync.Mutex
	namespaces []string // created namespaces, deleted by Close
	closed     bool
	closeErr   error
}

// NetHost is one host namespace of a NetTopology.
type NetHost struct {
	Name  string           // as passed to NewNetTopology, e.g. "a"
	NS    string           // namespace name, usable with `ip netns exec`
	Iface string           // "eth0", inside NS
	Addr  string           // "10.231.7.11"
	CIDR  string           // "10.231.7.11/24"
	Addr6 string           // "fd12:3456:789a::11"; "" without IPv6
	CIDR6 string           // "fd12:3456:789a::11/64"; "" without IPv6
	MAC   net.HardwareAddr // of Iface
	Veth  string           // peer end of the veth pair, in the lan namespace
}

// NewNetTopology builds a topology with the given hosts and removes it when
// the test ends (also when it fails). Without root the test is skipped,
// unless CI=true, which makes it fail instead.
func NewNetTopology(t testing.TB, hosts ...string) *NetTopology {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("network namespace tests need root (CI=true, not skipping)")
		}
		t.Skipf("network namespace tests need root; CI=true makes this fatal")
	}
	n, err := NewNetTopologyE(hosts...)
	if err != nil {
		t.Fatalf("building network topology: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("removing network topology %s: %v", n.Prefix, err)
		}
	})
	return n
}

// NewNetTopologyE is NewNetTopology for callers without a testing.TB (the
// demo). The caller must Close the topology. Host names are 1–7 characters
// of [a-z0-9], unique, and not "lan".
func NewNetTopologyE(hosts ...string) (*NetTopology, error) {
	if len(hosts) == 0 || len(hosts) > nsMaxHosts {
		return nil, fmt.Errorf("netns topology: need 1 to %d hosts, got %d", nsMaxHosts, len(hosts))
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if !nsHostNameRE.MatchString(h) || h == "lan" || seen[h] {
			return nil, fmt.Errorf("netns topology: bad or duplicate host name %q (1-7 of [a-z0-9], not \"lan\")", h)
		}
		seen[h] = true
	}
	for attempt := 0; ; attempt++ {
		n := newNetTopology(hosts)
		err := n.build(hosts)
		if err == nil {
			return n, nil
		}
		err = errors.Join(err, n.Close())
		// A namespace of that name exists: another run drew the same prefix.
		if !errors.Is(err, os.ErrExist) || attempt == 2 {
			return nil, fmt.Errorf("netns topology: %w", err)
		}
	}
}

// newNetTopology draws the random names and subnets.
func newNetTopology(hosts []string) *NetTopology {
	prefix := fmt.Sprintf("pg%05x", rand.IntN(1<<20))
	n := &NetTopology{
		Prefix: prefix,
		LanNS:  prefix + "-lan",
		Bridge: nsBridgeName,
		Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 231, byte(1 + rand.IntN(254)), 0}), 24),
		Hosts:  map[string]*NetHost{},
	}
	if _, err := os.Stat("/proc/sys/net/ipv6"); err == nil {
		var a [16]byte
		a[0] = 0xfd
		for i := 1; i < 6; i++ {
			a[i] = byte(rand.IntN(256))
		}
		n.Subnet6 = netip.PrefixFrom(netip.AddrFrom16(a), 64)
	}
	for i, name := range hosts {
		h := &NetHost{Name: name, NS: prefix + "-" + name, Iface: nsHostIface, Veth: "v-" + name}
		h.Addr = n.hostAddr(11 + i)
		h.CIDR = h.Addr + "/24"
		if n.Subnet6.IsValid() {
			h.Addr6 = n.hostAddr6(11 + i)
			h.CIDR6 = h.Addr6 + "/64"
		}
		n.Hosts[name] = h
	}
	return n
}

// FreeAddr returns an address of the subnet that no host uses, e.g. for a
// VIP: "10.231.X.(100+i)", 0 <= i <= 154.
func (n *NetTopology) FreeAddr(i int) string {
	if i < 0 || i > 154 {
		panic("pgtest: FreeAddr index out of range: " + strconv.Itoa(i))
	}
	return n.hostAddr(100 + i)
}

// FreeAddr6 is FreeAddr for the IPv6 subnet ("<subnet6>::(100+i)"); it
// returns "" when the topology has no IPv6.
func (n *NetTopology) FreeAddr6(i int) string {
	if i < 0 || i > 154 {
		panic("pgtest: FreeAddr6 index out of range: " + strconv.Itoa(i))
	}
	if !n.Subnet6.IsValid() {
		return ""
	}
	return n.hostAddr6(100 + i)
}

// PrefixLen is the IPv4 prefix length of the subnet (24).
func (n *NetTopology) PrefixLen() int { return n.Subnet.Bits() }

// PrefixLen6 is the IPv6 prefix length of the subnet (64).
func (n *NetTopology) PrefixLen6() int { return 64 }

func (n *NetTopology) hostAddr(last int) string {
	a := n.Subnet.Addr().As4()
	a[3] = byte(last)
	return netip.AddrFrom4(a).String()
}

// hostAddr6 reuses the decimal digits of the IPv4 host part as the last
// hexadecimal group, so host .11 is ::11 in both families.
func (n *NetTopology) hostAddr6(last int) string {
	return netip.MustParseAddr(n.Subnet6.Addr().String() + strconv.Itoa(last)).String()
}

// build creates the namespaces, the bridge and the veth pairs.
func (n *NetTopology) build(hosts []string) error {
	lan, err := n.createNS(n.LanNS)
	if err != nil {
		return err
	}
	defer lan.Close()
	// The lan namespace only switches frames; keep it quiet on IPv6.
	_ = nsSysctl(n.LanNS, "net/ipv6/conf/default/disable_ipv6", "1")
	_ = nsSysctl(n.LanNS, "net/ipv6/conf/all/disable_ipv6", "1")
	lh, err := netlink.NewHandleAt(lan)
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", n.LanNS, err)
	}
	defer lh.Close()
	if err := nsLinkUp(lh, "lo"); err != nil {
		return fmt.Errorf("%s: %w", n.LanNS, err)
	}
	if err := lh.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge}}); err != nil {
		return fmt.Errorf("adding bridge in %s: %w", n.LanNS, err)
	}
	br, err := lh.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("%s: %w", n.LanNS, err)
	}
	if err := lh.LinkSetUp(br); err != nil {
		return fmt.Errorf("bridge up in %s: %w", n.LanNS, err)
	}
	for _, name := range hosts {
		if err := n.addHost(lh, br, n.Hosts[name]); err != nil {
			return fmt.Errorf("host %s: %w", name, err)
		}
	}
	return n.waitReady()
}

// addHost creates the host namespace and its veth pair (created in the lan
// namespace with the peer placed directly in the host namespace, so no
// interface ever appears in the root namespace), then configures eth0.
func (n *NetTopology) addHost(lh *netlink.Handle, br netlink.Link, h *NetHost) error {
	hostNS, err := n.createNS(h.NS)
	if err != nil {
		return err
	}
	defer hostNS.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: h.Veth, MasterIndex: br.Attrs().Index},
		PeerName:      h.Iface,
		PeerNamespace: netlink.NsFd(int(hostNS)),
	}
	if err := lh.LinkAdd(veth); err != nil {
		return fmt.Errorf("adding veth %s: %w", h.Veth, err)
	}
	if err := nsLinkUp(lh, h.Veth); err != nil {
		return err
	}
	hh, err := netlink.NewHandleAt(hostNS)
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", h.NS, err)
	}
	defer hh.Close()
	if err := nsLinkUp(hh, "lo"); err != nil {
		return err
	}
	eth, err := hh.LinkByName(h.Iface)
	if err != nil {
		return fmt.Errorf("%s: %w", h.NS, err)
	}
	for _, cidr := range []string{h.CIDR, h.CIDR6} {
		if cidr == "" {
			continue
		}
		a, err := netlink.ParseAddr(cidr)
		if err != nil {
			return err
		}
		if a.IP.To4() == nil {
			// Usable at once. DAD stays on for other addresses (the
			// link-local one, VIPs), as on a real host.
			a.Flags = unix.IFA_F_NODAD
		}
		if err := hh.AddrAdd(eth, a); err != nil {
			return fmt.Errorf("adding %s in %s: %w", cidr, h.NS, err)
		}
	}
	if err := hh.LinkSetUp(eth); err != nil {
		return fmt.Errorf("%s up in %s: %w", h.Iface, h.NS, err)
	}
	h.MAC = eth.Attrs().HardwareAddr
	return nil
}

// waitReady polls until every host's eth0 reports carrier.
func (n *NetTopology) waitReady() error {
	deadline := time.Now().Add(nsReadyTimeout)
	for _, h := range n.Hosts {
		for {
			var up bool
			err := nsWithHandle(h.NS, func(nh *netlink.Handle) error {
				l, err := nh.LinkByName(h.Iface)
				if err == nil {
					up = l.Attrs().OperState == netlink.OperUp
				}
				return err
			})
			if err != nil {
				return err
			}
			if up {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s in %s: no carrier after %s", h.Iface, h.NS, nsReadyTimeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// createNS creates a named namespace and records it for Close. The returned
// handle must be closed by the caller.
func (n *NetTopology) createNS(name string) (netns.NsHandle, error) {
	h := netns.None()
	err := nsLocked(func() error {
		var err error
		h, err = netns.NewNamed(name) // switches this (locked) thread into it
		return err
	})
	if err != nil {
		if !errors.Is(err, os.ErrExist) {
			// NewNamed may have created the mount-point file and failed later.
			_ = os.Remove(filepath.Join(nsRunDir, name))
		}
		h.Close()
		return netns.None(), fmt.Errorf("creating namespace %s: %w", name, err)
	}
	n.mu.Lock()
	n.namespaces = append(n.namespaces, name)
	n.mu.Unlock()
	return h, nil
}

// Close deletes the namespaces, which destroys the veth pairs and the
// bridge with them. It is idempotent. A namespace lives on (unnamed) while
// a process or socket still uses it; callers stop their processes first.
func (n *NetTopology) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return n.closeErr
	}
	n.closed = true
	var errs []error
	for i := len(n.namespaces) - 1; i >= 0; i-- {
		name := n.namespaces[i]
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			// Not a mount point any more: still remove the name.
			rmErr := os.Remove(filepath.Join(nsRunDir, name))
			if rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("deleting namespace %s: %w", name, err))
			}
		}
	}
	n.namespaces = nil
	n.closeErr = errors.Join(errs...)
	return n.closeErr
}

// Cut sets the host's lan-side veth down, as if its cable were pulled; the
// host's own eth0 stays administratively up but loses carrier.
func (n *NetTopology) Cut(host string) error { return n.setVeth(host, false) }

// Heal brings the host's lan-side veth back up.
func (n *NetTopology) Heal(host string) error { return n.setVeth(host, true) }

func (n *NetTopology) setVeth(host string, up bool) error {
	h, ok := n.Hosts[host]
	if !ok {
		return fmt.Errorf("netns topology %s: no host %q", n.Prefix, host)
	}
	return nsWithHandle(n.LanNS, func(nh *netlink.Handle) error {
		l, err := nh.LinkByName(h.Veth)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", h.Veth, n.LanNS, err)
		}
		if up {
			err = nh.LinkSetUp(l)
		} else {
			err = nh.LinkSetDown(l)
		}
		if err != nil {
			return fmt.Errorf("setting %s up=%t in %s: %w", h.Veth, up, n.LanNS, err)
		}
		return nil
	})
}

// CutBetween cuts only the path between two hosts, leaving each of them
// on the lan for the others: a blackhole route to the other's address in
// each namespace (packets either way are dropped, as in a partition that
// separates just these two). HealBetween removes the routes.
func (n *NetTopology) CutBetween(a, b string) error { return n.blackhole(a, b, true) }

// HealBetween undoes CutBetween.
func (n *NetTopology) HealBetween(a, b string) error { return n.blackhole(a, b, false) }

func (n *NetTopology) blackhole(a, b string, add bool) error {
	ha, ok1 := n.Hosts[a]
	hb, ok2 := n.Hosts[b]
	if !ok1 || !ok2 {
		return fmt.Errorf("netns topology %s: no hosts %q and %q", n.Prefix, a, b)
	}
	for _, pair := range [][2]*NetHost{{ha, hb}, {hb, ha}} {
		from, to := pair[0], pair[1]
		err := nsWithHandle(from.NS, func(h *netlink.Handle) error {
			dst := &net.IPNet{IP: net.ParseIP(to.Addr).To4(), Mask: net.CIDRMask(32, 32)}
			r := &netlink.Route{Dst: dst, Type: unix.RTN_BLACKHOLE}
			if add {
				return h.RouteAdd(r)
			}
			return h.RouteDel(r)
		})
		if err != nil {
			return fmt.Errorf("blackhole route %s -> %s (add=%t): %w", from.Name, to.Name, add, err)
		}
	}
	return nil
}

// Neigh returns the link-layer address the host's neighbour cache holds for
// ip on its eth0, or nil when there is no usable entry (absent, incomplete
// or failed).
func (n *NetTopology) Neigh(host, ip string) (net.HardwareAddr, error) {
	h, ok := n.Hosts[host]
	if !ok {
		return nil, fmt.Errorf("netns topology %s: no host %q", n.Prefix, host)
	}
	want, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, err
	}
	family := netlink.FAMILY_V4
	if want.Is6() {
		family = netlink.FAMILY_V6
	}
	var mac net.HardwareAddr
	err = nsWithHandle(h.NS, func(nh *netlink.Handle) error {
		l, err := nh.LinkByName(h.Iface)
		if err != nil {
			return err
		}
		neighs, err := nh.NeighList(l.Attrs().Index, family)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
		for _, e := range neighs {
			got, ok := netip.AddrFromSlice(e.IP)
			if !ok || got.Unmap() != want || len(e.HardwareAddr) == 0 ||
				e.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) != 0 {
				continue
			}
			mac = e.HardwareAddr
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("neighbours of %s in %s: %w", ip, h.NS, err)
	}
	return mac, nil
}

// NSDialer returns a DialContext function whose sockets are created inside
// namespace ns (a name under /var/run/netns, or an absolute path). It fits
// pgconn.Config.DialFunc and http.Transport.DialContext. Pass IP literals:
// host names are resolved by the Go resolver, which may run on another
// thread and thus outside ns.
func NSDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := InNS(ns, func() error {
			// No Happy Eyeballs: its racing dials run on other goroutines
			// (other threads, other namespaces).
			d := net.Dialer{FallbackDelay: -1}
			var err error
			conn, err = d.DialContext(ctx, network, addr)
			return err
		})
		if err != nil {
			if conn != nil {
				conn.Close()
			}
			return nil, err
		}
		return conn, nil
	}
}

// InNS runs fn on a locked OS thread inside namespace ns (a name under
// /var/run/netns, or an absolute path) and waits for it. Sockets fn creates
// stay in ns for their whole life. fn runs on another goroutine: it must not
// call t.FailNow (that is reported as an error); a panic in fn is re-raised
// in the caller.
func InNS(ns string, fn func() error) error {
	path := ns
	if !filepath.IsAbs(path) {
		path = filepath.Join(nsRunDir, ns)
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", ns, err)
	}
	defer target.Close()
	return nsLocked(func() error {
		if err := netns.Set(target); err != nil {
			return fmt.Errorf("entering namespace %s: %w", ns, err)
		}
		return fn()
	})
}

// nsLocked runs fn on a fresh goroutine locked to its OS thread, then puts
// the thread back into the namespace it started in. Only if that succeeds
// is the thread unlocked; otherwise the goroutine exits locked and the Go
// runtime terminates the thread, so no goroutine ever runs in a namespace it
// did not ask for.
func nsLocked(fn func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
		exited   bool // fn called runtime.Goexit
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- result{err: fmt.Errorf("getting current namespace: %w", err)}
			return // still locked: the thread is discarded, harmlessly
		}
		res := result{exited: true}
		defer func() {
			if r := recover(); r != nil {
				res.panicked, res.panicVal, res.exited = true, r, false
			}
			if err := netns.Set(orig); err != nil {
				res.err = errors.Join(res.err, fmt.Errorf("restoring namespace (thread discarded): %w", err))
			} else {
				runtime.UnlockOSThread()
			}
			orig.Close()
			done <- res
		}()
		res.err = fn()
		res.exited = false
	}()
	res := <-done
	if res.panicked {
		panic(res.panicVal)
	}
	if res.exited {
		return errors.Join(res.err, errors.New("function run in namespace called runtime.Goexit (t.FailNow?)"))
	}
	return res.err
}

// NSPing sends one ICMP (or ICMPv6) echo request from namespace ns to addr
// and waits up to timeout for the matching reply. It uses a raw socket, so
// no ping binary is needed.
func NSPing(ns, addr string, timeout time.Duration) error {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	network, laddr, proto := "ip4:icmp", "0.0.0.0", 1
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if ip.Is6() {
		network, laddr, proto = "ip6:ipv6-icmp", "::", 58
		reqType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var conn *icmp.PacketConn
	err = InNS(ns, func() error {
		var err error
		conn, err = icmp.ListenPacket(network, laddr)
		return err
	})
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w", addr, ns, err)
	}
	defer conn.Close()
	id, seq := rand.IntN(0xffff), 1+rand.IntN(0xfffe)
	req, err := (&icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("pgtest")}}).Marshal(nil)
	if err != nil {
		return err
	}
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.WriteTo(req, &net.IPAddr{IP: ip.AsSlice()}); err != nil {
		return fmt.Errorf("ping %s from %s: %w", addr, ns, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("ping %s from %s: %w", addr, ns, err)
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != replyType {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		src, _ := netip.ParseAddr(from.String())
		if ok && echo.ID == id && echo.Seq == seq && src.Unmap() == ip {
			return nil
		}
	}
}

// nsWithHandle opens a netlink handle inside namespace ns for fn.
func nsWithHandle(ns string, fn func(*netlink.Handle) error) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", ns, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", ns, err)
	}
	defer nh.Close()
	return fn(nh)
}

// nsLinkUp sets the named link up.
func nsLinkUp(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s up: %w", name, err)
	}
	return nil
}

// nsSysctl writes /proc/sys/<key> inside namespace ns (/proc/sys/net is
// per network namespace of the writing thread).
func nsSysctl(ns, key, value string) error {
	return InNS(ns, func() error {
		if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s in %s: %w", key, ns, err)
		}
		return nil
	})
}
