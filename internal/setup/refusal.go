package setup

import "fmt"

// Refusal is a precondition that failed: nothing was changed. The command
// line maps it to exit code 1.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

func refuse(format string, args ...any) error {
	return &Refusal{Reason: fmt.Sprintf(format, args...)}
}
