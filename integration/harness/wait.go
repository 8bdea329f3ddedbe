package harness

import (
	"context"

	"github.com/pgswitch/pgswitch/internal/pgtest"
)

func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	return pgtest.WaitFor(ctx, what, cond)
}
