package config_test

import (
	"strings"
	"testing"

	"github.com/pgswitch/pgswitch/internal/config"
)

// TestStateDirDefaultIsPerNode: with node.state_dir unset, two nodes of one
// host get two directories, each named after its node (SPEC §5), from a
// file and from a Config built in code alike; a given value is kept.
func TestStateDirDefaultIsPerNode(t *testing.T) {
	a := loadOK(t, minimal)
	b := loadOK(t, strings.Replace(strings.Replace(minimal, "name: db-1", "name: db-x", 1), "name: db-2", "name: db-1", 1))
	if a.Node.StateDir != "/var/lib/pgswitch/"+a.Node.Name {
		t.Errorf("node %s: state_dir %q, want /var/lib/pgswitch/%s", a.Node.Name, a.Node.StateDir, a.Node.Name)
	}
	if b.Node.Name == a.Node.Name {
		t.Fatalf("test setup: both configurations name node %s", a.Node.Name)
	}
	if b.Node.StateDir != "/var/lib/pgswitch/"+b.Node.Name {
		t.Errorf("node %s: state_dir %q, want /var/lib/pgswitch/%s", b.Node.Name, b.Node.StateDir, b.Node.Name)
	}

	c := loadOK(t, minimal, "PGSWITCH_NODE_STATE_DIR=/srv/pgs")
	if c.Node.StateDir != "/srv/pgs" {
		t.Errorf("given state_dir: got %q, want /srv/pgs", c.Node.StateDir)
	}

	var built config.Config
	built.Node.Name = "node-b"
	_ = built.Validate() // the other keys are missing; only the default matters here
	if built.Node.StateDir != "/var/lib/pgswitch/node-b" {
		t.Errorf("Validate: state_dir %q, want /var/lib/pgswitch/node-b", built.Node.StateDir)
	}
}
