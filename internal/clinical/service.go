package clinical

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"golang.org/x/text/unicode/norm"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/keyring"
	"uroportal/internal/store"
)

// ResultSource reads one patient's lab results under a decision. The
// encrypted table is the only source in the product; the benchmark harness
// supplies an unencrypted copy to measure what encryption costs.
type ResultSource interface {
	LabResults(ctx context.Context, q store.Querier, d access.Decision, code string) ([]LabResult, error)
}

// Service is the way in to patients and results.
type Service struct {
	db      *store.DB
	enc     *encStore
	results ResultSource
	policy  *access.Policy
	audit   audit.Recorder
	clock   clock.Clock
}

// NewService wires the service. results may be nil for the encrypted table.
func NewService(db *store.DB, keys *keyring.Keyring, policy *access.Policy, rec audit.Recorder, clk clock.Clock, results ResultSource) *Service {
	enc := &encStore{db: db, keys: keys}
	if results == nil {
		results = enc
	}
	return &Service{db: db, enc: enc, results: results, policy: policy, audit: rec, clock: clk}
}

// decide asks the policy and audits a refusal.
func (s *Service) decide(ctx context.Context, actor access.Actor, action access.Action, cat access.Category, patientID, eventType string) (access.Decision, error) {
	d, err := s.policy.Decide(ctx, actor, action, cat, patientID)
	if err == nil {
		return d, nil
	}
	if errors.Is(err, access.ErrDenied) {
		// A refusal is recorded; if even that fails, the failure wins.
		if aerr := s.audit.Record(ctx, nil, audit.Event{Type: eventType, Outcome: audit.Denied, Actor: actor,
			PatientID: patientID, Category: cat, Action: action}); aerr != nil {
			return access.Decision{}, aerr
		}
	}
	return access.Decision{}, err
}

// Patient returns a patient's demographics.
func (s *Service) Patient(ctx context.Context, actor access.Actor, patientID string) (Patient, error) {
	const ev = "phi.demographics.view"
	d, err := s.decide(ctx, actor, access.View, access.Demographics, patientID, ev)
	if err != nil {
		return Patient{}, err
	}
	p, err := s.enc.patient(ctx, s.db, d)
	if err != nil {
		return Patient{}, err
	}
	err = s.audit.Record(ctx, nil, audit.Event{Type: ev, Outcome: audit.Success, Actor: actor, PatientID: patientID, ActingFor: d.Via(),
		Category: access.Demographics, Action: access.View, ObjectIDs: []string{patientID}})
	if err != nil {
		return Patient{}, err
	}
	return p, nil
}

// LabResults returns a patient's lab results, newest first; code, when set,
// keeps one test (LOINC code).
func (s *Service) LabResults(ctx context.Context, actor access.Actor, patientID, code string) ([]LabResult, error) {
	const ev = "phi.results.view"
	d, err := s.decide(ctx, actor, access.View, access.Results, patientID, ev)
	if err != nil {
		return nil, err
	}
	rs, err := s.results.LabResults(ctx, s.db, d, code)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	err = s.audit.Record(ctx, nil, audit.Event{Type: ev, Outcome: audit.Success, Actor: actor, PatientID: patientID, ActingFor: d.Via(),
		Category: access.Results, Action: access.View, ObjectIDs: ids})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// FindByMRN returns the patient with a medical record number, for staff
// whose role may see demographics. An unknown MRN and a refused one look
// alike.
func (s *Service) FindByMRN(ctx context.Context, actor access.Actor, mrn string) (Patient, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM patients WHERE mrn_index = $1`, s.enc.keys.BlindIndex(indexMRN, NormalizeMRN(mrn))).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		if aerr := s.audit.Record(ctx, nil, audit.Event{Type: "phi.demographics.search", Outcome: audit.Denied, Actor: actor, Category: access.Demographics, Action: access.View, Reason: "no match"}); aerr != nil {
			return Patient{}, aerr
		}
		return Patient{}, access.ErrDenied
	}
	if err != nil {
		return Patient{}, err
	}
	return s.Patient(ctx, actor, id)
}

// MatchIdentity checks a date of birth and family name against a patient's
// record, for account activation. It answers yes or no, and on yes the name
// the new account will greet the patient by. The check is the system's own,
// recorded as such.
func (s *Service) MatchIdentity(ctx context.Context, patientID, birthDate, familyName string) (string, bool, error) {
	var dob, fam, given []byte
	err := s.db.QueryRowContext(ctx, `SELECT birth_date, family_name, given_name FROM patients WHERE id = $1`, patientID).Scan(&dob, &fam, &given)
	if err != nil {
		return "", false, err
	}
	r := s.enc.keys.Row(ctx, "patients", patientID)
	wantDOB, wantFam, givenName := r.Open("birth_date", dob), r.Open("family_name", fam), r.Open("given_name", given)
	if err := r.Err(); err != nil {
		return "", false, err
	}
	ok := strings.TrimSpace(birthDate) == wantDOB && foldName(familyName) == foldName(wantFam)
	outcome := audit.Success
	if !ok {
		outcome = "failure"
	}
	err = s.audit.Record(ctx, nil, audit.Event{Type: "phi.identity.verify", Outcome: outcome, Actor: access.Actor{UserID: "system:activation", Role: access.Admin},
		PatientID: patientID, Category: access.Demographics, Action: access.View, ObjectIDs: []string{patientID}})
	if !ok || err != nil {
		return "", false, err
	}
	return givenName + " " + wantFam, true, nil
}

// foldName compares names the way people type them: case, accents' width
// forms and surrounding spaces do not matter.
func foldName(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(s)), " "))
}

// FamilyName reads a patient's family name for the security monitor's
// "same family name" rule. It is the system's own check and is not shown to
// anyone; only the match is.
func (s *Service) FamilyName(ctx context.Context, patientID string) (string, error) {
	var ct []byte
	if err := s.db.QueryRowContext(ctx, `SELECT family_name FROM patients WHERE id = $1`, patientID).Scan(&ct); err != nil {
		return "", err
	}
	r := s.enc.keys.Row(ctx, "patients", patientID)
	name := r.Open("family_name", ct)
	return name, r.Err()
}

// PatientIDByMRN finds a record's ID by MRN without reading anything in it,
// for the security officer's flags; NotFound if there is none.
func (s *Service) PatientIDByMRN(ctx context.Context, mrn string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM patients WHERE mrn_index = $1`, s.enc.keys.BlindIndex(indexMRN, NormalizeMRN(mrn))).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fault.E(fault.NotFound, "There is no patient with that MRN.", nil)
	}
	return id, err
}
