package clinical

import (
	"context"
	"database/sql"

	"uroportal/internal/access"
	"uroportal/internal/audit"
)

// Batch is one transaction's worth of imported records.
type Batch struct {
	Patients []Patient
	Results  []LabResult
}

// Import writes a batch in one transaction, with an audit event per patient
// naming the operator's command. It is for operator commands (demo data,
// bulk import) run by someone who already holds the key-encryption key; no
// web route reaches it.
func (s *Service) Import(ctx context.Context, operator string, b Batch) error {
	now := s.clock.Now()
	actor := access.Actor{UserID: "system:" + operator, Role: access.Admin}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		perPatient := map[string][]string{}
		for _, p := range b.Patients {
			if err := s.enc.insertPatient(ctx, tx, p, now); err != nil {
				return err
			}
			perPatient[p.ID] = []string{p.ID}
		}
		for _, r := range b.Results {
			if err := s.enc.insertResult(ctx, tx, r, now); err != nil {
				return err
			}
			perPatient[r.PatientID] = append(perPatient[r.PatientID], r.ID)
		}
		for pid, ids := range perPatient {
			err := s.audit.Record(ctx, tx, audit.Event{Type: "phi.import", Outcome: audit.Success, Actor: actor,
				PatientID: pid, Category: access.Results, Action: access.Create, ObjectIDs: ids, Reason: operator})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
