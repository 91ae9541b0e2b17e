package clinical

import (
	"context"
	"errors"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/clock"
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
	err = s.audit.Record(ctx, nil, audit.Event{Type: ev, Outcome: audit.Success, Actor: actor, PatientID: patientID,
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
	err = s.audit.Record(ctx, nil, audit.Event{Type: ev, Outcome: audit.Success, Actor: actor, PatientID: patientID,
		Category: access.Results, Action: access.View, ObjectIDs: ids})
	if err != nil {
		return nil, err
	}
	return rs, nil
}
