package netbind_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/netbind"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name  string
		cfg   netbind.Config
		field string // "" means valid
	}{
		{"disabled", netbind.Config{}, ""},
		{"disabled ignores interface", netbind.Config{Interface: "eth0"}, ""},
		{"ipv4", netbind.Config{Address: "10.0.0.100/24", Interface: "eth0"}, ""},
		{"ipv4 host route", netbind.Config{Address: "192.168.1.5/32", Interface: "bond0.42"}, ""},
		{"ipv6", netbind.Config{Address: "fd00::100/64", Interface: "eth0"}, ""},
		{"explicit burst", netbind.Config{Address: "10.0.0.100/24", Interface: "eth0", GARPCount: 5, GARPInterval: time.Second}, ""},
		{"no prefix length", netbind.Config{Address: "10.0.0.100", Interface: "eth0"}, "vip.address"},
		{"bad octet", netbind.Config{Address: "10.0.0.300/24", Interface: "eth0"}, "vip.address"},
		{"prefix too long", netbind.Config{Address: "10.0.0.100/33", Interface: "eth0"}, "vip.address"},
		{"garbage", netbind.Config{Address: "vip", Interface: "eth0"}, "vip.address"},
		{"loopback", netbind.Config{Address: "127.0.0.2/8", Interface: "lo"}, "vip.address"},
		{"link-local v6", netbind.Config{Address: "fe80::1/64", Interface: "eth0"}, "vip.address"},
		{"multicast", netbind.Config{Address: "239.1.1.1/24", Interface: "eth0"}, "vip.address"},
		{"unspecified", netbind.Config{Address: "0.0.0.0/0", Interface: "eth0"}, "vip.address"},
		{"v4-mapped", netbind.Config{Address: "::ffff:10.0.0.1/120", Interface: "eth0"}, "vip.address"},
		{"missing interface", netbind.Config{Address: "10.0.0.100/24"}, "vip.interface"},
		{"interface too long", netbind.Config{Address: "10.0.0.100/24", Interface: "abcdefghijklmnop"}, "vip.interface"},
		{"interface with slash", netbind.Config{Address: "10.0.0.100/24", Interface: "eth/0"}, "vip.interface"},
		{"negative count", netbind.Config{Address: "10.0.0.100/24", Interface: "eth0", GARPCount: -1}, "vip.garp_count"},
		{"negative interval", netbind.Config{Address: "10.0.0.100/24", Interface: "eth0", GARPInterval: -time.Second}, "vip.garp_interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := netbind.New(tc.cfg, zerolog.Nop())
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New: unexpected error %v", err)
				}
				if got, want := v.Disabled(), tc.cfg.Address == ""; got != want {
					t.Errorf("Disabled() = %t, want %t", got, want)
				}
				return
			}
			var ce *netbind.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("New: error %v is not a *ConfigError", err)
			}
			if ce.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("New: error %q names field %q, want %q", err, ce.Field, tc.field)
			}
		})
	}
}

func TestString(t *testing.T) {
	v, err := netbind.New(netbind.Config{Address: "fd00::100/64", Interface: "eth1"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.String(), "fd00::100/64 on eth1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if v.Address() != "fd00::100/64" || v.Interface() != "eth1" {
		t.Errorf("Address/Interface = %q/%q", v.Address(), v.Interface())
	}
}

func TestDisabledIsNoop(t *testing.T) {
	v, err := netbind.New(netbind.Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := v.Bind(ctx); err != nil {
		t.Errorf("Bind: %v", err)
	}
	if err := v.Announce(ctx); err != nil {
		t.Errorf("Announce: %v", err)
	}
	if err := v.Release(ctx); err != nil {
		t.Errorf("Release: %v", err)
	}
	if ok, err := v.Held(ctx); ok || err != nil {
		t.Errorf("Held = %t, %v; want false, nil", ok, err)
	}
}

// TestBindReleaseIdempotent binds and releases a VIP in host a twice each.
func TestBindReleaseIdempotent(t *testing.T) {
	topo := pgtest.NewNetTopology(t, "a", "b", "client")
	a := topo.Hosts["a"]
	for _, cidr := range []string{topo.FreeAddr(0) + "/24", topo.FreeAddr6(0) + "/64"} {
		if strings.HasPrefix(cidr, "/") {
			continue // no IPv6 in this kernel; covered by TestIPv6Takeover's policy
		}
		t.Run(cidr, func(t *testing.T) {
			v := newVIP(t, cidr)
			if held(t, a, v) {
				t.Fatal("held before Bind")
			}
			for i := range 2 {
				if err := inHost(t, a, v.Bind); err != nil {
					t.Fatalf("Bind #%d: %v", i+1, err)
				}
				if !held(t, a, v) {
					t.Fatalf("not held after Bind #%d", i+1)
				}
			}
			if strings.Contains(cidr, ":") {
				// Usable at once: added with nodad, never tentative.
				out, err := exec.Command("ip", "-n", a.NS, "-6", "addr", "show", "dev", "eth0", "to", topo.FreeAddr6(0)+"/128").CombinedOutput()
				if err != nil || !strings.Contains(string(out), topo.FreeAddr6(0)+"/64") || !strings.Contains(string(out), "nodad") || strings.Contains(string(out), "tentative") {
					t.Errorf("ip addr show (err %v):\n%s\nwant nodad, not tentative", err, out)
				}
			}
			if err := inHost(t, a, v.Announce); err != nil {
				t.Fatalf("Announce while held: %v", err)
			}
			for i := range 2 {
				if err := inHost(t, a, v.Release); err != nil {
					t.Fatalf("Release #%d: %v", i+1, err)
				}
				if held(t, a, v) {
					t.Fatalf("still held after Release #%d", i+1)
				}
			}
			if err := inHost(t, a, v.Announce); !errors.Is(err, netbind.ErrNotHeld) {
				t.Fatalf("Announce after Release = %v, want ErrNotHeld", err)
			}
		})
	}
}

func TestMissingInterface(t *testing.T) {
	topo := pgtest.NewNetTopology(t, "a")
	a := topo.Hosts["a"]
	v, err := netbind.New(netbind.Config{Address: topo.FreeAddr(0) + "/24", Interface: "nosuch0"}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	err = inHost(t, a, v.Bind)
	if !errors.Is(err, netbind.ErrInterfaceNotFound) || !strings.Contains(err.Error(), "nosuch0") {
		t.Errorf("Bind = %v, want ErrInterfaceNotFound naming nosuch0", err)
	}
	err = inHost(t, a, func(ctx context.Context) error { _, err := v.Held(ctx); return err })
	if !errors.Is(err, netbind.ErrInterfaceNotFound) {
		t.Errorf("Held = %v, want ErrInterfaceNotFound", err)
	}
	if err := inHost(t, a, v.Release); err != nil {
		t.Errorf("Release = %v, want nil (nothing to release)", err)
	}
}

// TestBindCancelledAnnouncement checks that a long burst stops when ctx
// ends and that the address stays bound.
func TestBindCancelledAnnouncement(t *testing.T) {
	topo := pgtest.NewNetTopology(t, "a")
	a := topo.Hosts["a"]
	v, err := netbind.New(netbind.Config{Address: topo.FreeAddr(0) + "/24", Interface: "eth0",
		GARPCount: 100, GARPInterval: time.Second}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = pgtest.InNS(a.NS, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		return v.Bind(ctx)
	})
	if !errors.Is(err, netbind.ErrNotAnnounced) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Bind = %v, want ErrNotAnnounced and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("Bind took %s after its context ended", d)
	}
	if !held(t, a, v) {
		t.Error("VIP not held after a cancelled announcement")
	}
}
