package audit

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"uroportal/internal/access"
)

// Stored is one event as reports show it.
type Stored struct {
	ID                                           string `json:"id"`
	Seq                                          int64
	At                                           time.Time
	Type, Outcome, ActorID, ActorRole, ActingFor string
	PatientID, Category, Action, ObjectIDs       string
	RequestID, SourceIP, UserAgent, Reason, Node string
}

// Filter selects events for a report. Zero fields match everything.
type Filter struct {
	From, To                  time.Time
	ActorID, PatientID, Type  string
	Outcome, Category, Action string
	SourceIP                  string
	// Sort is one of SortFields; Desc reverses it. Seq breaks ties.
	Sort string
	Desc bool
	// After is the seq of the last row of the previous page (keyset
	// pagination, fast over millions of events), with AfterValue its sort
	// value.
	After      int64
	AfterValue string
	Limit      int
}

// SortFields are the columns a report may sort by.
var SortFields = map[string]string{
	"time": "at", "type": "event_type", "outcome": "outcome", "actor": "actor_id", "role": "actor_role",
	"patient": "patient_id", "category": "category", "action": "action", "source": "source_ip", "node": "node",
}

// Search returns one page of events matching f, under a decision to view
// (or export) the audit log. The search itself is recorded.
func (l *Log) Search(ctx context.Context, d access.Decision, f Filter) ([]Stored, error) {
	if !d.PermitsPractice(access.View, access.AuditLog) && !d.PermitsPractice(access.Export, access.AuditLog) {
		return nil, access.ErrDenied
	}
	col, ok := SortFields[f.Sort]
	if !ok {
		col, f.Sort = "at", "time"
	}
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 100
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if !f.From.IsZero() {
		where = append(where, "at >= "+arg(f.From.UnixMilli()))
	}
	if !f.To.IsZero() {
		where = append(where, "at < "+arg(f.To.UnixMilli()))
	}
	for c, v := range map[string]string{"actor_id": f.ActorID, "patient_id": f.PatientID, "event_type": f.Type, "outcome": f.Outcome,
		"category": f.Category, "action": f.Action, "source_ip": f.SourceIP} {
		if v != "" {
			where = append(where, c+" = "+arg(v))
		}
	}
	where = append(where, "seq IS NOT NULL")
	dir, cmp := "ASC", ">"
	if f.Desc {
		dir, cmp = "DESC", "<"
	}
	if f.After > 0 {
		var v any = f.AfterValue
		if col == "at" {
			var ms int64
			fmt.Sscan(f.AfterValue, &ms)
			v = ms
		}
		p := arg(v)
		where = append(where, fmt.Sprintf("(%s %s %s OR (%s = %s AND seq %s %s))", col, cmp, p, col, p, cmp, arg(f.After)))
	}
	q := `SELECT ` + rowCols + ` FROM audit_events WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(" ORDER BY %s %s, seq %s LIMIT %d", col, dir, dir, f.Limit)
	rows, err := l.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: search: %w", err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		var r row
		var seq sql.NullInt64
		if err := scanRow(rows, &r, &seq); err != nil {
			return nil, err
		}
		out = append(out, storedOf(r))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	typ := "audit.report.view"
	if d.PermitsPractice(access.Export, access.AuditLog) {
		typ = "audit.report.export"
	}
	return out, l.Record(ctx, nil, Event{Type: typ, Outcome: Success, Actor: d.Actor(), Category: access.AuditLog, Action: d.Action(),
		Reason: fmt.Sprintf("filter %+v; %d rows", f, len(out))})
}

// SortValue is the value of the sort column of s, for the next page's
// After cursor.
func (s Stored) SortValue(sort string) string {
	switch sort {
	case "type":
		return s.Type
	case "outcome":
		return s.Outcome
	case "actor":
		return s.ActorID
	case "role":
		return s.ActorRole
	case "patient":
		return s.PatientID
	case "category":
		return s.Category
	case "action":
		return s.Action
	case "source":
		return s.SourceIP
	case "node":
		return s.Node
	}
	return fmt.Sprint(s.At.UnixMilli())
}
