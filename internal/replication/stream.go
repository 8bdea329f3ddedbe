package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// event is one item of the replication stream, in stream order.
type event struct {
	msg      pglogrepl.Message // nil for a keepalive
	walStart pglogrepl.LSN     // position of the message (XLogData.WALStart)
	walEnd   pglogrepl.LSN     // keepalive: what the server has sent so far
	reply    bool              // keepalive asks for an immediate reply
	size     int               // bytes received, for flow control
}

// stream owns one walsender connection in COPY BOTH mode.
//
// One goroutine (the apply loop) reads and writes it.
type stream struct {
	conn *pgconn.PgConn
}

// startStream issues START_REPLICATION on an open replication connection.
func startStream(ctx context.Context, conn *pgconn.PgConn, slot, publication string, from pglogrepl.LSN) (*stream, error) {
	err := pglogrepl.StartReplication(ctx, conn, slot, from, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication,
		PluginArgs: []string{
			"proto_version '1'",
			fmt.Sprintf("publication_names '%s'", publication),
			"messages 'true'",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("starting replication from slot %s at %s: %w", slot, from, err)
	}
	return &stream{conn: conn}, nil
}

// receive returns the next event. Payloads are parsed into values that own
// their memory: the connection reuses its read buffer while the event waits
// for the apply loop.
func (s *stream) receive() (event, error) {
	for {
		raw, err := s.conn.ReceiveMessage(context.Background())
		if err != nil {
			return event{}, fmt.Errorf("receiving from walsender: %w", err)
		}
		switch m := raw.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return event{}, fmt.Errorf("parsing keepalive: %w", err)
				}
				return event{walEnd: ka.ServerWALEnd, reply: ka.ReplyRequested, size: len(m.Data)}, nil
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return event{}, fmt.Errorf("parsing XLogData: %w", err)
				}
				msg, err := pglogrepl.Parse(xld.WALData)
				if err != nil {
					return event{}, fmt.Errorf("parsing pgoutput message at %s: %w", xld.WALStart, err)
				}
				if ldm, ok := msg.(*pglogrepl.LogicalDecodingMessage); ok {
					// The only field pglogrepl leaves in the read buffer.
					ldm.Content = bytes.Clone(ldm.Content)
				}
				return event{msg: msg, walStart: xld.WALStart, size: len(m.Data)}, nil
			}
		case *pgproto3.ErrorResponse:
			return event{}, pgconn.ErrorResponseToPgError(m)
		case *pgproto3.CopyDone:
			return event{}, errors.New("walsender ended the stream (CopyDone)")
		}
	}
}

// buffered says whether more of the stream has been read from the socket
// already, so that receive would not wait for the network.
func (s *stream) buffered() bool { return s.conn.Frontend().ReadBufferLen() > 0 }

// sendStatus reports positions to the walsender. All three are always set:
// pglogrepl would replace a zero flush or apply position with write.
func (s *stream) sendStatus(write, flush, apply pglogrepl.LSN, reply bool) error {
	return pglogrepl.SendStandbyStatusUpdate(context.Background(), s.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: write,
		WALFlushPosition: flush,
		WALApplyPosition: apply,
		ClientTime:       time.Now(),
		ReplyRequested:   reply,
	})
}
