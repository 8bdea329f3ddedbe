package replication

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
)

// LostTxn is one transaction an old active committed that its successor
// never applied (SPEC §9 rule 5), as the lost-transaction report holds it.
type LostTxn struct {
	Xid        uint32    `json:"xid"`
	CommitLSN  string    `json:"commit_lsn"`
	EndLSN     string    `json:"end_lsn"`
	CommitTime time.Time `json:"commit_time"`
	// Acknowledged says whether the commit can have been acknowledged to
	// its client: "never" (strict synchronous mode: it waited for a
	// standby that never had it) or "unknown".
	Acknowledged string       `json:"acknowledged"`
	Changes      []LostChange `json:"changes"`
}

// LostChange is one row change of a lost transaction; values are in text
// form, null as JSON null. As PostgreSQL decodes them: Old is the replica
// identity key of a DELETE, and of an UPDATE only when it changed the key
// (the whole old row with REPLICA IDENTITY FULL); a TOASTed value an
// UPDATE left unchanged is absent from New.
type LostChange struct {
	Op    string             `json:"op"` // INSERT, UPDATE, DELETE, TRUNCATE
	Table string             `json:"table"`
	New   map[string]*string `json:"new,omitempty"`
	Old   map[string]*string `json:"old,omitempty"`
}

// PeekLost decodes, without consuming anything, the transactions in slot
// (a pgoutput slot of publication on conn's database) that end after
// applied — the position the successor's origin recorded for this node —
// and calls emit with each in commit order. The slot keeps every one of
// them: its confirmed position is at most what the successor flushed. It
// returns how many it found. Memory is bounded by one transaction.
func PeekLost(ctx context.Context, conn *pgx.Conn, slot, publication string, applied LSN, emit func(LostTxn) error) (int, error) {
	rows, err := conn.Query(ctx, `SELECT data FROM pg_catalog.pg_logical_slot_peek_binary_changes($1, NULL, NULL,
		'proto_version', '1', 'publication_names', $2)`, slot, publication)
	if err != nil {
		return 0, fmt.Errorf("reading slot %s: %w", slot, err)
	}
	defer rows.Close()
	rels := map[uint32]*pglogrepl.RelationMessage{}
	var cur *LostTxn
	n := 0
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return n, fmt.Errorf("reading slot %s: %w", slot, err)
		}
		msg, err := pglogrepl.Parse(data)
		if err != nil {
			return n, fmt.Errorf("decoding slot %s: %w", slot, err)
		}
		switch m := msg.(type) {
		case *pglogrepl.RelationMessage:
			rels[m.RelationID] = m
		case *pglogrepl.BeginMessage:
			cur = &LostTxn{Xid: m.Xid, CommitLSN: m.FinalLSN.String(), CommitTime: m.CommitTime.UTC(), Acknowledged: "unknown", Changes: []LostChange{}}
		case *pglogrepl.InsertMessage:
			cur.add(rels, m.RelationID, "INSERT", m.Tuple, oldTuple{})
		case *pglogrepl.UpdateMessage:
			cur.add(rels, m.RelationID, "UPDATE", m.NewTuple, keyOnly(m.OldTupleType, m.OldTuple))
		case *pglogrepl.DeleteMessage:
			cur.add(rels, m.RelationID, "DELETE", nil, keyOnly(m.OldTupleType, m.OldTuple))
		case *pglogrepl.TruncateMessage:
			for _, id := range m.RelationIDs {
				cur.add(rels, id, "TRUNCATE", nil, oldTuple{})
			}
		case *pglogrepl.CommitMessage:
			if cur == nil {
				continue
			}
			if m.TransactionEndLSN > applied && len(cur.Changes) > 0 {
				cur.EndLSN = m.TransactionEndLSN.String()
				if err := emit(*cur); err != nil {
					return n, err
				}
				n++
			}
			cur = nil
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("reading slot %s: %w", slot, err)
	}
	return n, nil
}

// add appends one change; pgswitch's own tables (the switch markers) are
// not the application's data and are left out.
func (t *LostTxn) add(rels map[uint32]*pglogrepl.RelationMessage, id uint32, op string, newT *pglogrepl.TupleData, oldT oldTuple) {
	if t == nil {
		return
	}
	r := rels[id]
	if r == nil || r.Namespace == "pgswitch" {
		return
	}
	t.Changes = append(t.Changes, LostChange{Op: op, Table: r.Namespace + "." + r.RelationName,
		New: tupleText(r, newT, false), Old: tupleText(r, oldT.TupleData, oldT.keyOnly)})
}

// oldTuple is an old row image and whether it holds the replica identity
// key only (the other columns are sent as nulls and mean nothing).
type oldTuple struct {
	*pglogrepl.TupleData
	keyOnly bool
}

func keyOnly(kind uint8, t *pglogrepl.TupleData) oldTuple {
	return oldTuple{TupleData: t, keyOnly: kind == pglogrepl.UpdateMessageTupleTypeKey}
}

func tupleText(r *pglogrepl.RelationMessage, t *pglogrepl.TupleData, key bool) map[string]*string {
	if t == nil {
		return nil
	}
	out := map[string]*string{}
	for i, c := range t.Columns {
		if i >= len(r.Columns) {
			break
		}
		if key && r.Columns[i].Flags&1 == 0 {
			continue
		}
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
			out[r.Columns[i].Name] = nil
		case pglogrepl.TupleDataTypeText, pglogrepl.TupleDataTypeBinary:
			v := string(c.Data)
			out[r.Columns[i].Name] = &v
		}
	}
	return out
}
