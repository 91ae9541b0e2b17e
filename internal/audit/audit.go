// Package audit records who touched which patient's data. Every service
// method that reads or writes PHI, and every refusal, records an Event
// before its result is returned; if the record cannot be written the request
// fails (fail closed). Events never carry PHI values, only IDs.
package audit

import (
	"context"
	"fmt"
	"strings"

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
type Log struct {
	DB    *store.DB
	Clock clock.Clock
}

// Record implements Recorder. q may be nil to write outside a transaction.
func (l *Log) Record(ctx context.Context, q store.Querier, e Event) error {
	if q == nil {
		q = l.DB
	}
	r := requestFrom(ctx)
	_, err := q.ExecContext(ctx, `INSERT INTO audit_events
		(id, at, event_type, outcome, actor_id, actor_role, patient_id, category, action, object_ids, request_id, source_ip, user_agent, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		uuid.NewString(), l.Clock.Now().UnixMilli(), e.Type, e.Outcome, e.Actor.UserID, string(e.Actor.Role),
		e.PatientID, string(e.Category), string(e.Action), strings.Join(e.ObjectIDs, ","), r.ID, r.SourceIP, truncate(r.UserAgent, 256), e.Reason)
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Type, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
