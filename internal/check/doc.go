// Package check is the preflight of `pgswitch check`: it reads both nodes
// (never changing anything) and lists what would stop pgswitch from keeping
// them in sync or switching them over, one finding per line. It works before
// `init` (checking what init will need) and after it.
package check
