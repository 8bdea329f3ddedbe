// Package api is the daemon's HTTP interface (SPEC §6): the unauthenticated
// probes for load balancers (/health, /primary, /standby), Prometheus
// metrics, and the authenticated /v1 endpoints used by the command line and
// by the peer daemon. It also holds the client both of those use.
package api
