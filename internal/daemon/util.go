package daemon

import (
	"bytes"
	"io"

	"github.com/pgswitch/pgswitch/internal/replication"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func parseLSN(s string) (replication.LSN, error) {
	if s == "" {
		return 0, nil
	}
	return replication.ParseLSN(s)
}
