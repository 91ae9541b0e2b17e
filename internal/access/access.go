// Package access is the one policy point: every service method asks it for a
// Decision about (actor, action, category, patient) before touching PHI.
// Deny is the default: a missing rule, an unknown role, a missing relation or
// a failed lookup is a refusal. Store functions that return PHI take a
// Decision, which only this package can grant.
package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/store"
)

// Role is a user's role in the practice.
type Role string

// The roles.
const (
	Patient   Role = "patient"
	Proxy     Role = "proxy"
	Clinician Role = "clinician"
	Nurse     Role = "nurse"
	FrontDesk Role = "frontdesk"
	Billing   Role = "billing"
	Admin     Role = "admin"
	Security  Role = "security"
	Auditor   Role = "auditor"
)

// Roles lists every role.
var Roles = []Role{Patient, Proxy, Clinician, Nurse, FrontDesk, Billing, Admin, Security, Auditor}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, k := range Roles {
		if k == r {
			return true
		}
	}
	return false
}

// Category is a class of data, the unit of minimum necessary.
type Category string

// The data categories.
const (
	Demographics Category = "demographics"
	Results      Category = "results"
	// AccessHistory is the record of who looked at a patient's data.
	AccessHistory Category = "access_history"
	// AuditLog is the practice's whole audit log (reports and exports).
	AuditLog Category = "audit"
)

// Action is what the actor does with the data.
type Action string

// The actions.
const (
	View   Action = "view"
	Create Action = "create"
	Update Action = "update"
	Export Action = "export"
)

// Relation is what must hold between the actor and the patient.
type Relation uint8

// The relations a rule can require.
const (
	Self       Relation = iota + 1 // the actor is the patient
	CareTeam                       // the actor is on the patient's care team
	ProxyScope                     // the actor is the patient's proxy, unexpired, unrevoked
	AnyPatient                     // any patient of the practice
	Practice                       // practice-wide data about no one patient
)

// Rule allows a role some actions on a category under a relation.
type Rule struct {
	Role     Role
	Category Category
	Actions  map[Action]bool
	Relation Relation
}

func set(a ...Action) map[Action]bool {
	m := map[Action]bool{}
	for _, x := range a {
		m[x] = true
	}
	return m
}

// Rules returns a copy of the rules table, for tests and documentation.
func Rules() []Rule { return append([]Rule(nil), rules...) }

// Actor is the authenticated person making a request.
type Actor struct {
	UserID string
	Role   Role
	// PatientID is the actor's own patient record, for the patient role.
	PatientID string
}

// LogValue keeps actors to their IDs in logs.
func (a Actor) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", a.UserID), slog.String("role", string(a.Role)))
}

// Decision is a grant of one action on one category of one patient's data.
// Its fields are unexported: only Decide makes a granted one, so a store
// function that takes a Decision cannot be called without asking.
type Decision struct {
	actor     Actor
	action    Action
	category  Category
	patientID string
	relation  Relation
}

// Actor is who was granted.
func (d Decision) Actor() Actor { return d.actor }

// Action is what was granted.
func (d Decision) Action() Action { return d.action }

// Via names the grant the actor acts under, for the audit log's
// acting-for: "proxy" when a proxy acts for the patient, "" otherwise.
func (d Decision) Via() string {
	if d.relation == ProxyScope {
		return "proxy"
	}
	return ""
}

// PatientID is the patient the decision is about.
func (d Decision) PatientID() string { return d.patientID }

// Permits reports whether d grants action on category of patientID.
func (d Decision) Permits(action Action, category Category, patientID string) bool {
	return d.relation != 0 && d.action == action && d.category == category && d.patientID == patientID && patientID != ""
}

// ErrDenied is the refusal every caller sees. It looks like not-found so a
// refusal reveals nothing about whether a record exists.
var ErrDenied = fault.E(fault.NotFound, "We could not find that record. Check the link, or go back to your home page.", errors.New("access: denied"))

// Policy decides.
type Policy struct {
	db    *store.DB
	clock clock.Clock
}

// New returns the policy over db's relation tables.
func New(db *store.DB, clk clock.Clock) *Policy { return &Policy{db: db, clock: clk} }

// DecidePractice grants an action on practice-wide data (no patient), such
// as the audit log, or returns ErrDenied.
func (p *Policy) DecidePractice(actor Actor, action Action, category Category) (Decision, error) {
	if actor.UserID == "" || !actor.Role.Valid() {
		return Decision{}, ErrDenied
	}
	for _, r := range rules {
		if r.Role == actor.Role && r.Category == category && r.Actions[action] && r.Relation == Practice {
			return Decision{actor: actor, action: action, category: category, relation: Practice}, nil
		}
	}
	return Decision{}, ErrDenied
}

// PermitsPractice reports whether d grants action on practice-wide category.
func (d Decision) PermitsPractice(action Action, category Category) bool {
	return d.relation == Practice && d.action == action && d.category == category
}

// Decide grants action on category of patientID to actor, or returns
// ErrDenied.
func (p *Policy) Decide(ctx context.Context, actor Actor, action Action, category Category, patientID string) (Decision, error) {
	if actor.UserID == "" || !actor.Role.Valid() || patientID == "" {
		return Decision{}, ErrDenied
	}
	for _, r := range rules {
		if r.Role != actor.Role || r.Category != category || !r.Actions[action] {
			continue
		}
		ok, err := p.holds(ctx, r.Relation, actor, category, patientID)
		if err != nil {
			return Decision{}, fmt.Errorf("access: relation check: %w", err)
		}
		if ok {
			return Decision{actor: actor, action: action, category: category, patientID: patientID, relation: r.Relation}, nil
		}
	}
	return Decision{}, ErrDenied
}

func (p *Policy) holds(ctx context.Context, rel Relation, actor Actor, category Category, patientID string) (bool, error) {
	var q string
	var args []any
	switch rel {
	case Self:
		return actor.PatientID != "" && actor.PatientID == patientID, nil
	case AnyPatient:
		q, args = `SELECT 1 FROM patients WHERE id = $1`, []any{patientID}
	case CareTeam:
		q, args = `SELECT 1 FROM care_team WHERE patient_id = $1 AND user_id = $2`, []any{patientID, actor.UserID}
	case ProxyScope:
		q = `SELECT 1 FROM proxy_relations WHERE patient_id = $1 AND proxy_user_id = $2 AND revoked_at IS NULL AND expires_at > $3
			AND (',' || scope || ',') LIKE $4`
		args = []any{patientID, actor.UserID, p.clock.Now().UnixMilli(), "%," + string(category) + ",%"}
	default:
		return false, nil
	}
	var one int
	err := p.db.QueryRowContext(ctx, q, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
