// Package pgtest starts real PostgreSQL clusters and real pgswitch processes
// for integration tests, benchmarks and the demo. Clusters are created with
// initdb and run with pg_ctl as the postgres user in temporary directories on
// free ports, and are always removed again.
package pgtest
