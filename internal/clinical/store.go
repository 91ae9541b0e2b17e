package clinical

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/fault"
	"uroportal/internal/keyring"
	"uroportal/internal/store"
)

// encStore is the encrypted store of patients and results.
type encStore struct {
	db   *store.DB
	keys *keyring.Keyring
}

func (s *encStore) insertPatient(ctx context.Context, q store.Querier, p Patient, now time.Time) error {
	r := s.keys.Row(ctx, "patients", p.ID)
	args := []any{p.ID, s.keys.BlindIndex(indexMRN, NormalizeMRN(p.MRN)),
		r.Seal("mrn", p.MRN), r.Seal("family_name", p.FamilyName), r.Seal("given_name", p.GivenName),
		r.Seal("birth_date", p.BirthDate), r.Seal("sex", p.Sex), r.Seal("address", p.Address),
		r.Seal("phone", p.Phone), r.Seal("email", p.Email), now.UnixMilli()}
	if err := r.Err(); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `INSERT INTO patients (id, mrn_index, mrn, family_name, given_name, birth_date, sex, address, phone, email, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`, args...)
	if err != nil {
		return fmt.Errorf("clinical: insert patient %s: %w", p.ID, err)
	}
	return nil
}

func (s *encStore) patient(ctx context.Context, q store.Querier, d access.Decision) (Patient, error) {
	id := d.PatientID()
	if !d.Permits(access.View, access.Demographics, id) {
		return Patient{}, access.ErrDenied
	}
	var c [8][]byte
	err := q.QueryRowContext(ctx, `SELECT mrn, family_name, given_name, birth_date, sex, address, phone, email FROM patients WHERE id = $1`, id).
		Scan(&c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7])
	if err != nil {
		return Patient{}, fmt.Errorf("clinical: patient %s: %w", id, err)
	}
	r := s.keys.Row(ctx, "patients", id)
	p := Patient{ID: id, MRN: r.Open("mrn", c[0]), FamilyName: r.Open("family_name", c[1]), GivenName: r.Open("given_name", c[2]),
		BirthDate: r.Open("birth_date", c[3]), Sex: r.Open("sex", c[4]), Address: r.Open("address", c[5]),
		Phone: r.Open("phone", c[6]), Email: r.Open("email", c[7])}
	return p, r.Err()
}

func (s *encStore) insertResult(ctx context.Context, q store.Querier, x LabResult, now time.Time) error {
	r := s.keys.Row(ctx, "lab_results", x.ID)
	args := []any{x.ID, x.PatientID, s.keys.BlindIndex(indexLabCode, NormalizeCode(x.Code)),
		r.Seal("code", x.Code), r.Seal("name", x.Name), r.Seal("value", x.Value), r.Seal("unit", x.Unit),
		r.Seal("reference_range", x.ReferenceRange), r.Seal("flag", x.Flag), r.Seal("status", x.Status),
		r.Seal("collected_at", x.CollectedAt.UTC().Format(time.RFC3339)), r.Seal("resulted_at", x.ResultedAt.UTC().Format(time.RFC3339)),
		r.Seal("ordering_clinician", x.OrderingClinician), now.UnixMilli()}
	if err := r.Err(); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `INSERT INTO lab_results (id, patient_id, code_index, code, name, value, unit, reference_range, flag, status, collected_at, resulted_at, ordering_clinician, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, args...)
	if err != nil {
		return fmt.Errorf("clinical: insert lab result %s: %w", x.ID, err)
	}
	return nil
}

// LabResults implements ResultSource over the encrypted table.
func (s *encStore) LabResults(ctx context.Context, q store.Querier, d access.Decision, code string) ([]LabResult, error) {
	id := d.PatientID()
	if !d.Permits(access.View, access.Results, id) {
		return nil, access.ErrDenied
	}
	query := `SELECT id, code, name, value, unit, reference_range, flag, status, collected_at, resulted_at, ordering_clinician FROM lab_results WHERE patient_id = $1`
	args := []any{id}
	if code != "" {
		query += ` AND code_index = $2`
		args = append(args, s.keys.BlindIndex(indexLabCode, NormalizeCode(code)))
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("clinical: lab results of %s: %w", id, err)
	}
	defer rows.Close()
	var out []LabResult
	var c [10][]byte
	for rows.Next() {
		x := LabResult{PatientID: id}
		if err := rows.Scan(&x.ID, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &c[8], &c[9]); err != nil {
			return nil, err
		}
		r := s.keys.Row(ctx, "lab_results", x.ID)
		x.Code, x.Name, x.Value, x.Unit = r.Open("code", c[0]), r.Open("name", c[1]), r.Open("value", c[2]), r.Open("unit", c[3])
		x.ReferenceRange, x.Flag, x.Status = r.Open("reference_range", c[4]), r.Open("flag", c[5]), r.Open("status", c[6])
		collected, resulted := r.Open("collected_at", c[7]), r.Open("resulted_at", c[8])
		x.OrderingClinician = r.Open("ordering_clinician", c[9])
		if err := r.Err(); err != nil {
			return nil, err
		}
		var err1, err2 error
		x.CollectedAt, err1 = time.Parse(time.RFC3339, collected)
		x.ResultedAt, err2 = time.Parse(time.RFC3339, resulted)
		if err := errors.Join(err1, err2); err != nil {
			// Authentic but unreadable: never show a made-up date.
			return nil, fault.E(fault.Internal, "", fmt.Errorf("clinical: lab result %s has a malformed time", x.ID))
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	SortResults(out)
	return out, nil
}

// SortResults orders results newest first, then by name.
func SortResults(rs []LabResult) {
	slices.SortFunc(rs, func(a, b LabResult) int {
		if c := b.CollectedAt.Compare(a.CollectedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
}
