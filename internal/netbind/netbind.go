package netbind

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Defaults applied by New when the corresponding Config field is zero.
const (
	DefaultGARPCount    = 3
	DefaultGARPInterval = 200 * time.Millisecond
)

// ifNameSize is the kernel's IFNAMSIZ, including the terminating NUL.
const ifNameSize = 16

// Config describes the virtual IP of the pair.
type Config struct {
	// Address is the VIP in CIDR form, "10.0.0.100/24" or "fd00::100/64".
	// Empty disables VIP management.
	Address string
	// Interface is the link the address is added to, e.g. "eth0".
	Interface string
	// GARPCount is the number of announcements per burst (gratuitous ARP
	// for IPv4, unsolicited neighbour advertisements for IPv6). Zero means
	// DefaultGARPCount; announcements cannot be switched off.
	GARPCount int
	// GARPInterval spaces the announcements of a burst. Zero means
	// DefaultGARPInterval.
	GARPInterval time.Duration
}

// VIP manages one virtual address on one interface. All operations act in
// the network namespace of the calling OS thread at the time of the call
// (normally the namespace of the daemon process); a VIP holds no sockets
// between calls. A VIP is safe for concurrent use, although concurrent Bind
// and Release calls race in the obvious way.
type VIP struct {
	prefix   netip.Prefix // host address with its configured prefix length
	iface    string
	count    int
	interval time.Duration
	log      zerolog.Logger
}

// New validates cfg and returns a VIP manager. An empty Address yields a
// disabled manager whose operations are no-ops. Validation failures are
// *ConfigError values naming the offending field.
func New(cfg Config, log zerolog.Logger) (*VIP, error) {
	if cfg.Address == "" {
		return &VIP{log: log}, nil
	}
	prefix, err := netip.ParsePrefix(strings.TrimSpace(cfg.Address))
	if err != nil {
		return nil, &ConfigError{Field: "vip.address", Value: cfg.Address,
			Reason: "not a CIDR address such as 10.0.0.100/24 or fd00::100/64", Err: err}
	}
	addr := prefix.Addr()
	if addr.Zone() != "" || addr.Is4In6() || !addr.IsGlobalUnicast() {
		return nil, &ConfigError{Field: "vip.address", Value: cfg.Address,
			Reason: "must be a unicast address that is not loopback, link-local or IPv4-mapped"}
	}
	if err := checkIfName(cfg.Interface); err != nil {
		return nil, err
	}
	if cfg.GARPCount < 0 {
		return nil, &ConfigError{Field: "vip.garp_count", Value: strconv.Itoa(cfg.GARPCount), Reason: "must not be negative"}
	}
	if cfg.GARPInterval < 0 {
		return nil, &ConfigError{Field: "vip.garp_interval", Value: cfg.GARPInterval.String(), Reason: "must not be negative"}
	}
	v := &VIP{
		prefix:   prefix,
		iface:    cfg.Interface,
		count:    cfg.GARPCount,
		interval: cfg.GARPInterval,
	}
	if v.count == 0 {
		v.count = DefaultGARPCount
	}
	if v.interval == 0 {
		v.interval = DefaultGARPInterval
	}
	v.log = log.With().Str("vip", prefix.String()).Str("interface", v.iface).Logger()
	return v, nil
}

// checkIfName rejects names the kernel would refuse.
func checkIfName(name string) error {
	bad := func(reason string) error {
		return &ConfigError{Field: "vip.interface", Value: name, Reason: reason}
	}
	switch {
	case name == "":
		return bad("required when vip.address is set")
	case len(name) >= ifNameSize:
		return bad("longer than 15 bytes")
	case name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n"):
		return bad("not a valid interface name")
	}
	return nil
}

// Disabled reports whether VIP management is switched off (empty
// vip.address). All operations of a disabled VIP succeed without effect and
// Held reports false.
func (v *VIP) Disabled() bool { return !v.prefix.IsValid() }

// Address returns the configured address in CIDR form, or "" if disabled.
func (v *VIP) Address() string {
	if v.Disabled() {
		return ""
	}
	return v.prefix.String()
}

// Interface returns the configured interface name.
func (v *VIP) Interface() string { return v.iface }

// String describes the VIP for humans, e.g. "10.0.0.100/24 on eth0".
func (v *VIP) String() string {
	if v.Disabled() {
		return "VIP disabled"
	}
	return v.prefix.String() + " on " + v.iface
}

// logger is the logger in ctx (with the caller's fields, such as a
// switchover's switch_id) when there is one, with this VIP's fields; else
// the VIP's own.
func (v *VIP) logger(ctx context.Context) *zerolog.Logger {
	if l := zerolog.Ctx(ctx); l != zerolog.DefaultContextLogger && l.GetLevel() != zerolog.Disabled {
		ll := l.With().Str("vip", v.prefix.String()).Str("interface", v.iface).Logger()
		return &ll
	}
	return &v.log
}
