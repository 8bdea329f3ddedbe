package netbind_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/netbind"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// identityPort is where every host of a topology answers with its name.
const identityPort = "7431"

// testLog sends zerolog output to the test log.
func testLog(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
}

// newVIP builds a VIP manager for eth0 with a fast announcement burst.
func newVIP(t *testing.T, cidr string) *netbind.VIP {
	t.Helper()
	v, err := netbind.New(netbind.Config{Address: cidr, Interface: "eth0",
		GARPCount: 3, GARPInterval: 20 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatalf("New(%s): %v", cidr, err)
	}
	return v
}

// inHost runs a VIP operation inside the host's namespace.
func inHost(t *testing.T, h *pgtest.NetHost, op func(context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgtest.InNS(h.NS, func() error { return op(ctx) })
}

// held reports VIP.Held as seen from inside the host's namespace.
func held(t *testing.T, h *pgtest.NetHost, v *netbind.VIP) bool {
	t.Helper()
	var ok bool
	err := inHost(t, h, func(ctx context.Context) error {
		var err error
		ok, err = v.Held(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("Held in %s: %v", h.Name, err)
	}
	return ok
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s; last state: %s", timeout, what, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveIdentity makes every host answer TCP connections on identityPort
// with its name, so a client can tell which host owns the VIP.
func serveIdentity(t *testing.T, topo *pgtest.NetTopology) {
	t.Helper()
	for name, h := range topo.Hosts {
		var ln net.Listener
		err := pgtest.InNS(h.NS, func() error {
			var err error
			ln, err = net.Listen("tcp", net.JoinHostPort("::", identityPort))
			return err
		})
		if err != nil {
			t.Fatalf("listening in %s: %v", name, err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(name))
				c.Close()
			}
		}()
	}
}

// whoAnswers dials vip from the client namespace and returns the name of
// the host that accepted.
func whoAnswers(client *pgtest.NetHost, vip string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := pgtest.NSDialer(client.NS)(ctx, "tcp", net.JoinHostPort(vip, identityPort))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// capture records the frames of one EtherType arriving at a host's eth0.
type capture struct {
	conn   *packet.Conn
	mu     sync.Mutex
	frames [][]byte
}

func startCapture(t *testing.T, h *pgtest.NetHost, etherType int) *capture {
	t.Helper()
	c := &capture{}
	err := pgtest.InNS(h.NS, func() error {
		ifi, err := net.InterfaceByName(h.Iface)
		if err != nil {
			return err
		}
		c.conn, err = packet.Listen(ifi, packet.Raw, etherType, nil)
		return err
	})
	if err != nil {
		t.Fatalf("capturing in %s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.conn.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := c.conn.ReadFrom(buf)
			if err != nil {
				return // closed by cleanup
			}
			c.mu.Lock()
			c.frames = append(c.frames, bytes.Clone(buf[:n]))
			c.mu.Unlock()
		}
	}()
	return c
}

// count returns how many captured frames satisfy match.
func (c *capture) count(match func([]byte) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.frames {
		if match(f) {
			n++
		}
	}
	return n
}
