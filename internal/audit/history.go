package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"uroportal/internal/access"
)

// Access is one entry of a patient's access history.
type Access struct {
	At        time.Time
	ActorID   string
	ActorRole string
	ActingFor string
	Category  string
	Action    string
	Type      string
	Outcome   string
}

// BreakGlass reports whether the access used emergency access.
func (a Access) BreakGlass() bool { return strings.HasPrefix(a.ActingFor, "break-glass") }

// History returns who touched a patient's record, newest first (at most
// limit entries), for the patient and their proxies. Reading it is itself
// recorded.
func (l *Log) History(ctx context.Context, policy *access.Policy, actor access.Actor, patientID string, limit int) ([]Access, error) {
	const ev = "audit.history.view"
	d, err := policy.Decide(ctx, actor, access.View, access.AccessHistory, patientID)
	if err != nil {
		if aerr := l.Record(ctx, nil, Event{Type: ev, Outcome: Denied, Actor: actor, PatientID: patientID, Category: access.AccessHistory, Action: access.View}); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	if !d.Permits(access.View, access.AccessHistory, patientID) {
		return nil, access.ErrDenied
	}
	rows, err := l.DB.QueryContext(ctx, `SELECT at, actor_id, actor_role, acting_for, category, action, event_type, outcome FROM audit_events
		WHERE patient_id = $1 AND category NOT IN ('security', 'audit') AND event_type <> $2 ORDER BY seq DESC LIMIT $3`, patientID, ev, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: history of %s: %w", patientID, err)
	}
	defer rows.Close()
	var out []Access
	for rows.Next() {
		var a Access
		var at int64
		if err := rows.Scan(&at, &a.ActorID, &a.ActorRole, &a.ActingFor, &a.Category, &a.Action, &a.Type, &a.Outcome); err != nil {
			return nil, err
		}
		a.At = time.UnixMilli(at).UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, l.Record(ctx, nil, Event{Type: ev, Outcome: Success, Actor: actor, PatientID: patientID, Category: access.AccessHistory, Action: access.View})
}
