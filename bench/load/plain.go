package main

import (
	"context"
	"fmt"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/clinical"
	"uroportal/internal/store"
)

// plainTable is an unencrypted copy of lab_results that exists only in a
// benchmark data directory. The product never creates or reads it.
const plainTable = "bench_plain_lab_results"

// plainSchema creates the copy. It mirrors lab_results column for column,
// with text where lab_results has ciphertext and the normalised code where
// it has a blind index, and the same (patient, code) index.
const plainSchema = `
CREATE TABLE IF NOT EXISTS ` + plainTable + ` (
    id                 TEXT NOT NULL PRIMARY KEY,
    patient_id         TEXT NOT NULL,
    code_norm          TEXT NOT NULL,
    code               TEXT NOT NULL,
    name               TEXT NOT NULL,
    value              TEXT NOT NULL,
    unit               TEXT NOT NULL,
    reference_range    TEXT NOT NULL,
    flag               TEXT NOT NULL,
    status             TEXT NOT NULL,
    collected_at       TEXT NOT NULL,
    resulted_at        TEXT NOT NULL,
    ordering_clinician TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ` + plainTable + `_patient ON ` + plainTable + ` (patient_id, code_norm);`

// plainResults is a clinical.ResultSource over the unencrypted copy. It does
// what the encrypted source does — check the decision, select one patient's
// rows through the patient index, parse the dates, sort — except decrypt, so
// the two variants of the benchmark differ only by encryption.
type plainResults struct{}

var _ clinical.ResultSource = plainResults{}

// LabResults implements clinical.ResultSource.
func (plainResults) LabResults(ctx context.Context, q store.Querier, d access.Decision, code string) ([]clinical.LabResult, error) {
	id := d.PatientID()
	if !d.Permits(access.View, access.Results, id) {
		return nil, access.ErrDenied
	}
	query := `SELECT id, code, name, value, unit, reference_range, flag, status, collected_at, resulted_at, ordering_clinician FROM ` + plainTable + ` WHERE patient_id = $1`
	args := []any{id}
	if code != "" {
		query += ` AND code_norm = $2`
		args = append(args, clinical.NormalizeCode(code))
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("bench: plain lab results of %s: %w", id, err)
	}
	defer rows.Close()
	var out []clinical.LabResult
	for rows.Next() {
		x := clinical.LabResult{PatientID: id}
		var collected, resulted string
		if err := rows.Scan(&x.ID, &x.Code, &x.Name, &x.Value, &x.Unit, &x.ReferenceRange, &x.Flag, &x.Status,
			&collected, &resulted, &x.OrderingClinician); err != nil {
			return nil, err
		}
		x.CollectedAt, _ = time.Parse(time.RFC3339, collected)
		x.ResultedAt, _ = time.Parse(time.RFC3339, resulted)
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	clinical.SortResults(out)
	return out, nil
}

// insertPlain writes results to the copy, in the caller's transaction.
func insertPlain(ctx context.Context, q store.Querier, rs []clinical.LabResult) error {
	for _, x := range rs {
		_, err := q.ExecContext(ctx, `INSERT INTO `+plainTable+` (id, patient_id, code_norm, code, name, value, unit, reference_range, flag, status, collected_at, resulted_at, ordering_clinician)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			x.ID, x.PatientID, clinical.NormalizeCode(x.Code), x.Code, x.Name, x.Value, x.Unit, x.ReferenceRange, x.Flag, x.Status,
			x.CollectedAt.UTC().Format(time.RFC3339), x.ResultedAt.UTC().Format(time.RFC3339), x.OrderingClinician)
		if err != nil {
			return fmt.Errorf("bench: copy lab result %s: %w", x.ID, err)
		}
	}
	return nil
}
