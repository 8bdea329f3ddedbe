package integration

import (
	"context"
	"strings"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
	"github.com/pgswitch/pgswitch/internal/replication"
)

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runIn runs argv in n's network namespace (if any) with extra env.
func runIn(ctx context.Context, n *harness.Node, env []string, argv ...string) (string, string, int, error) {
	return pgtest.Run(ctx, n.NetNS, env, argv...)
}

func replicationLSN(s string) (replication.LSN, error) { return replication.ParseLSN(s) }
