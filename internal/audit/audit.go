// Package audit records who touched which patient's data. Every service
// method that reads or writes PHI, and every refusal, records an Event
// before its result is returned; if the record cannot be written the request
// fails (fail closed). Events never carry PHI values, only IDs.
package audit

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"uroportal/internal/access"
	"uroportal/internal/clock"
	"uroportal/internal/store"
)

// Outcomes.
const (
	Success = "success"
	Denied  = "denied"
)

// Event is one auditable action.
type Event struct {
	Type      string // e.g. "phi.read"
	Outcome   string
	Actor     access.Actor
	PatientID string
	Category  access.Category
	Action    access.Action
	ObjectIDs []string
	Reason    string
	// ActingFor names the grant the actor acts under (a proxy relation,
	// break-glass or just-in-time grant), when there is one.
	ActingFor string
}

// Request is where a request came from; web middleware puts it in the
// context and Record reads it.
type Request struct {
	ID, SourceIP, UserAgent string
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

func requestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// Recorder records events durably.
type Recorder interface {
	Record(ctx context.Context, q store.Querier, e Event) error
}

// Log writes events to the audit_events table, inside the caller's
// transaction when it passes one, so a change and its event commit together.
// Each event takes the next place in the log and is sealed with a MAC under
// the audit key; Checkpoint signs the Merkle tree head.
type Log struct {
	DB     *store.DB
	Clock  clock.Clock
	Signer *Signer
	// Node names this server in events.
	Node string

	startOnce sync.Once
	queue     chan pending
	settings  settingsCache
}

// pending is an event waiting for the group commit, and where to say how
// it went.
type pending struct {
	ctx  context.Context
	e    Event
	done chan error
}

// maxBatch bounds one group commit.
const maxBatch = 256

// lockID is the PostgreSQL advisory lock that orders appends across nodes.
const lockID = 0x75726f_6175646974 // "uro" "audit"

// Record implements Recorder. q may be nil to write in a transaction of its
// own. It fails, and so fails the request, if the event cannot be written.
func (l *Log) Record(ctx context.Context, q store.Querier, e Event) error {
	if l.Signer == nil {
		return errors.New("audit: no signing key; refusing to run unaudited")
	}
	if l.skip(ctx, e) {
		return nil
	}
	if q != nil {
		return l.append(ctx, q, e)
	}
	// Events of their own (reads, refusals) from concurrent requests share
	// one transaction: one commit, and one sync to disk, for the batch.
	l.startOnce.Do(func() {
		l.queue = make(chan pending, 4*maxBatch)
		go l.commitLoop()
	})
	p := pending{ctx: ctx, e: e, done: make(chan error, 1)}
	select {
	case l.queue <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The event may still commit; the request fails either way.
		return ctx.Err()
	}
}

// commitLoop writes whatever is waiting in one transaction, then the next
// batch. It runs for the life of the process.
func (l *Log) commitLoop() {
	for first := range l.queue {
		batch := []pending{first}
	more:
		for len(batch) < maxBatch {
			select {
			case p := <-l.queue:
				batch = append(batch, p)
			default:
				break more
			}
		}
		err := l.DB.InTx(context.Background(), func(tx *sql.Tx) error {
			for _, p := range batch {
				// One request giving up must not fail the others' batch.
				if err := l.append(context.WithoutCancel(p.ctx), tx, p.e); err != nil {
					return err
				}
			}
			return nil
		})
		for _, p := range batch {
			p.done <- err
		}
	}
}

// row is one stored event, in the order the seal covers it.
type row struct {
	Seq                                          int64
	ID                                           string
	At                                           int64
	Type, Outcome, ActorID, ActorRole, ActingFor string
	PatientID, Category, Action, ObjectIDs       string
	RequestID, SourceIP, UserAgent, Reason, Node string
}

// encode is the canonical encoding of an event: every field, in a fixed
// order, length-prefixed, so no two events encode alike.
func (r *row) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(r.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(r.At))
	for _, f := range []string{r.ID, r.Type, r.Outcome, r.ActorID, r.ActorRole, r.ActingFor, r.PatientID, r.Category, r.Action,
		r.ObjectIDs, r.RequestID, r.SourceIP, r.UserAgent, r.Reason, r.Node} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

func (l *Log) lock(ctx context.Context, q store.Querier) error {
	if l.DB.Dialect == store.Postgres {
		_, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockID))
		return err
	}
	// SQLite: every write transaction holds the database's one write lock
	// from its start (_txlock=immediate), which orders appends already.
	return nil
}

func (l *Log) append(ctx context.Context, q store.Querier, e Event) error {
	if err := l.lock(ctx, q); err != nil {
		return fmt.Errorf("audit: lock: %w", err)
	}
	last, err := lastPlace(ctx, q)
	if err != nil {
		return fmt.Errorf("audit: next place: %w", err)
	}
	req := requestFrom(ctx)
	r := row{Seq: last + 1, ID: uuid.NewString(), At: l.Clock.Now().UnixMilli(), Type: e.Type, Outcome: e.Outcome,
		ActorID: e.Actor.UserID, ActorRole: string(e.Actor.Role), ActingFor: e.ActingFor, PatientID: e.PatientID,
		Category: string(e.Category), Action: string(e.Action), ObjectIDs: strings.Join(e.ObjectIDs, ","),
		RequestID: req.ID, SourceIP: req.SourceIP, UserAgent: truncate(req.UserAgent, 256), Reason: e.Reason, Node: l.Node}
	return l.insert(ctx, q, &r)
}

// lastPlace is the highest place taken: by an event, or by a checkpoint
// whose events were archived and purged, so places are never reused.
func lastPlace(ctx context.Context, q store.Querier) (int64, error) {
	var events, checkpoints int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&events); err != nil {
		return 0, err
	}
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(tree_size), 0) FROM audit_checkpoints`).Scan(&checkpoints); err != nil {
		return 0, err
	}
	return max(events, checkpoints), nil
}

func (l *Log) insert(ctx context.Context, q store.Querier, r *row) error {
	_, err := q.ExecContext(ctx, `INSERT INTO audit_events
		(seq, mac, id, at, event_type, outcome, actor_id, actor_role, acting_for, patient_id, category, action, object_ids, request_id, source_ip, user_agent, reason, node)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		r.Seq, l.Signer.seal(r.encode()), r.ID, r.At, r.Type, r.Outcome, r.ActorID, r.ActorRole, r.ActingFor, r.PatientID,
		r.Category, r.Action, r.ObjectIDs, r.RequestID, r.SourceIP, r.UserAgent, r.Reason, r.Node)
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", r.Type, err)
	}
	return nil
}

// Seal gives events written before the log was sealed (older versions)
// their places and MACs, oldest first, a thousand per transaction so memory
// stays small however many there are. It runs at start.
func (l *Log) Seal(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := l.sealBatch(ctx, 1000)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (l *Log) sealBatch(ctx context.Context, limit int) (int, error) {
	var n int
	err := l.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := l.lock(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+rowCols+` FROM audit_events WHERE seq IS NULL ORDER BY at, id LIMIT `+strconv.Itoa(limit))
		if err != nil {
			return err
		}
		var pending []row
		for rows.Next() {
			var r row
			var seq sql.NullInt64
			if err := scanRow(rows, &r, &seq); err != nil {
				rows.Close()
				return err
			}
			pending = append(pending, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(pending) == 0 {
			return err
		}
		last, err := lastPlace(ctx, tx)
		if err != nil {
			return err
		}
		for i := range pending {
			r := &pending[i]
			r.Seq = last + int64(i) + 1
			if _, err := tx.ExecContext(ctx, `UPDATE audit_events SET seq = $1, mac = $2 WHERE id = $3 AND seq IS NULL`, r.Seq, l.Signer.seal(r.encode()), r.ID); err != nil {
				return err
			}
		}
		n = len(pending)
		return nil
	})
	return n, err
}

const rowCols = `seq, id, at, event_type, outcome, actor_id, actor_role, acting_for, patient_id, category, action, object_ids, request_id, source_ip, user_agent, reason, node`

func scanRow(s interface{ Scan(...any) error }, r *row, seq *sql.NullInt64, extra ...any) error {
	dest := append([]any{seq, &r.ID, &r.At, &r.Type, &r.Outcome, &r.ActorID, &r.ActorRole, &r.ActingFor, &r.PatientID,
		&r.Category, &r.Action, &r.ObjectIDs, &r.RequestID, &r.SourceIP, &r.UserAgent, &r.Reason, &r.Node}, extra...)
	if err := s.Scan(dest...); err != nil {
		return err
	}
	r.Seq = seq.Int64
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
