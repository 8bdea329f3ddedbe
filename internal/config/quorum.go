package config

import (
	"net/url"
	"regexp"
	"time"
)

// minLeaseTTL is etcd's minimum lease TTL with its default timings
// (ceil(1.5 × the 1 s election timeout)): a shorter TTL would be raised.
const minLeaseTTL = 2 * time.Second

var clusterName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// checkQuorum checks section quorum and the keys of section failover that
// belong to it (SPEC §9).
func (c *Config) checkQuorum(ps *problems) {
	q := c.Quorum
	if len(q.Endpoints) > 0 {
		switch {
		case q.Cluster == "":
			ps.add("quorum.cluster", "is required with quorum.endpoints (the pair's name in etcd, [a-z0-9_-])")
		case !clusterName.MatchString(q.Cluster):
			ps.add("quorum.cluster", "must be made of a-z, 0-9, _ and -, not %s", quoteValue(q.Cluster))
		}
	}
	for _, ep := range q.Endpoints {
		u, err := url.Parse(ep)
		switch {
		case err != nil || u.Opaque != "" || (u.Scheme != "http" && u.Scheme != "https"):
			ps.add("quorum.endpoints", "must be etcd client URLs like https://10.0.0.5:2379, not %s", quoteValue(ep))
		case u.Hostname() == "" || !validHost(u.Hostname()) || !validPort(u.Port()):
			ps.add("quorum.endpoints", "%s needs a host and a port from 1 to 65535, like https://10.0.0.5:2379", quoteValue(ep))
		case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			ps.add("quorum.endpoints", "%s must be only scheme://host:port", quoteValue(ep))
		}
	}
	if q.Prefix == "" || q.Prefix[0] != '/' || q.Prefix[len(q.Prefix)-1] != '/' {
		ps.add("quorum.prefix", "must start and end with /, like /pgswitch/, not %s", quoteValue(q.Prefix))
	}
	if q.LeaseTTL < minLeaseTTL || q.LeaseTTL > time.Hour {
		ps.add("quorum.lease_ttl", "must be 2s (etcd's minimum) to 1h, not %s", q.LeaseTTL)
	}
	if nonEmpty(q.TLSCA, q.TLSCert, q.TLSKey) != 0 {
		for _, f := range []struct{ key, v string }{{"quorum.tls_ca", q.TLSCA}, {"quorum.tls_cert", q.TLSCert}, {"quorum.tls_key", q.TLSKey}} {
			if f.v == "" {
				ps.add(f.key, "must be set: quorum.tls_ca, quorum.tls_cert and quorum.tls_key go together, all three or none")
			}
		}
	}
	if c.Failover.MaxLagBytes < 0 {
		ps.add("failover.max_lag_bytes", "must not be negative, not %d", c.Failover.MaxLagBytes)
	}
}

func nonEmpty(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}
