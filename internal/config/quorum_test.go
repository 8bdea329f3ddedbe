package config_test

import (
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/internal/config"
)

// TestValidateQuorum covers the rules of section quorum and the failover
// keys of SPEC §9, in the style of TestValidate.
func TestValidateQuorum(t *testing.T) {
	withEtcd := func(c *config.Config) {
		c.Quorum.Endpoints = []string{"http://10.0.0.5:2379", "https://etcd-2:2379"}
		c.Quorum.Cluster = "pair-1"
	}
	cases := []validateCase{
		{"no quorum", func(c *config.Config) {}, nil},
		{"endpoints and cluster", withEtcd, nil},
		{"endpoints without cluster", func(c *config.Config) { withEtcd(c); c.Quorum.Cluster = "" }, []string{"quorum.cluster"}},
		{"cluster uppercase", func(c *config.Config) { withEtcd(c); c.Quorum.Cluster = "Pair" }, []string{"quorum.cluster"}},
		{"cluster with slash", func(c *config.Config) { withEtcd(c); c.Quorum.Cluster = "a/b" }, []string{"quorum.cluster"}},
		{"cluster with _", func(c *config.Config) { withEtcd(c); c.Quorum.Cluster = "a_b-9" }, nil},
		{"endpoint without scheme", func(c *config.Config) { withEtcd(c); c.Quorum.Endpoints = []string{"10.0.0.5:2379"} }, []string{"quorum.endpoints"}},
		{"endpoint without port", func(c *config.Config) { withEtcd(c); c.Quorum.Endpoints = []string{"http://10.0.0.5"} }, []string{"quorum.endpoints"}},
		{"endpoint with path", func(c *config.Config) { withEtcd(c); c.Quorum.Endpoints = []string{"http://10.0.0.5:2379/v3"} }, []string{"quorum.endpoints"}},
		{"endpoint unix", func(c *config.Config) { withEtcd(c); c.Quorum.Endpoints = []string{"unix:///run/etcd.sock"} }, []string{"quorum.endpoints"}},
		{"two bad endpoints", func(c *config.Config) { withEtcd(c); c.Quorum.Endpoints = []string{"x", "ftp://a:1"} }, []string{"quorum.endpoints", "quorum.endpoints"}},
		{"prefix without slashes", func(c *config.Config) { c.Quorum.Prefix = "pgswitch" }, []string{"quorum.prefix"}},
		{"lease_ttl 1s", func(c *config.Config) { c.Quorum.LeaseTTL = time.Second }, []string{"quorum.lease_ttl"}},
		{"lease_ttl 1999ms", func(c *config.Config) { c.Quorum.LeaseTTL = 1999 * time.Millisecond }, []string{"quorum.lease_ttl"}},
		{"lease_ttl 2s", func(c *config.Config) { c.Quorum.LeaseTTL = 2 * time.Second }, nil},
		{"tls all three", func(c *config.Config) { c.Quorum.TLSCA, c.Quorum.TLSCert, c.Quorum.TLSKey = "ca", "cert", "key" }, nil},
		{"tls ca only", func(c *config.Config) { c.Quorum.TLSCA = "ca" }, []string{"quorum.tls_cert", "quorum.tls_key"}},
		{"tls without key", func(c *config.Config) { c.Quorum.TLSCA, c.Quorum.TLSCert = "ca", "cert" }, []string{"quorum.tls_key"}},
		{"max_lag_bytes negative", func(c *config.Config) { c.Failover.MaxLagBytes = -1 }, []string{"failover.max_lag_bytes"}},
		{"max_lag_bytes 0", func(c *config.Config) { c.Failover.MaxLagBytes = 0 }, nil},
	}
	runValidateCases(t, cases)
}

// TestQuorumDefaults: the defaults of SPEC §9, and failover.unplanned kept
// off when the file says so.
func TestQuorumDefaults(t *testing.T) {
	c := loadOK(t, minimal)
	if c.Quorum.Prefix != "/pgswitch/" || c.Quorum.LeaseTTL != 3*time.Second || len(c.Quorum.Endpoints) != 0 {
		t.Errorf("quorum defaults %+v", c.Quorum)
	}
	if !c.Failover.Unplanned || c.Failover.MaxLagBytes != 1048576 {
		t.Errorf("failover defaults %+v", c.Failover)
	}
	off := loadOK(t, minimal+"failover:\n  unplanned: false\n  max_lag_bytes: 0\n")
	if off.Failover.Unplanned || off.Failover.MaxLagBytes != 0 {
		t.Errorf("failover.unplanned: false / max_lag_bytes: 0 not kept: %+v", off.Failover)
	}
}
