package netbind

import (
	"errors"
	"fmt"
)

// Sentinel errors callers may test with errors.Is.
var (
	// ErrInterfaceNotFound reports that the configured interface does not
	// exist in the network namespace of the calling thread.
	ErrInterfaceNotFound = errors.New("interface not found")

	// ErrNotHeld reports that Announce was asked to advertise an address
	// this host does not hold; announcing it would steal traffic the host
	// cannot answer.
	ErrNotHeld = errors.New("VIP not held")

	// ErrNotAnnounced accompanies a Bind error when the address was added
	// but the announcement burst failed or was cancelled: the VIP is held,
	// and the caller may retry Announce.
	ErrNotAnnounced = errors.New("address added but not announced")
)

// ConfigError is returned by New when a field of Config is invalid. Field
// uses the configuration-file spelling (for example "vip.address").
type ConfigError struct {
	Field  string
	Value  string
	Reason string
	Err    error // underlying parse error, if any
}

func (e *ConfigError) Error() string {
	msg := fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ConfigError) Unwrap() error { return e.Err }
