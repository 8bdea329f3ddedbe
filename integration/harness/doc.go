// Package harness builds a real pgswitch pair for the integration tests,
// the benchmarks and the demo: two PostgreSQL clusters (optionally in
// network namespaces), a database "app" on each, a configuration file and
// state directory per node, and the pgswitch binary to run against them.
package harness
