package daemon

import "github.com/pgswitch/pgswitch/internal/replication"

func parseLSN(s string) (replication.LSN, error) {
	if s == "" {
		return 0, nil
	}
	return replication.ParseLSN(s)
}
