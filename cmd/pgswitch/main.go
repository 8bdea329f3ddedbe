// Command pgswitch manages a PostgreSQL primary/standby pair: see
// `pgswitch --help` and the README.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
