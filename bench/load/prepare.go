package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"uroportal/bench/internal/harness"
	"uroportal/internal/access"
	"uroportal/internal/app"
	"uroportal/internal/clinical"
	"uroportal/internal/demo"
	"uroportal/internal/identity"
	"uroportal/internal/store"
)

// benchResults is how many lab results the bench patient has.
const benchResults = 200

// markerFile, in the data directory, says preparation finished and what it
// made. A directory without it is not reused.
const markerFile = "bench.json"

// dataset is what preparation made; the server and the driver read it from
// markerFile.
type dataset struct {
	Patients       int     `json:"patients"`
	Seed           uint64  `json:"seed"`
	BenchPatientID string  `json:"bench_patient_id"`
	BenchResults   int     `json:"bench_results"`
	ClinicianID    string  `json:"clinician_id"`
	PlainRows      int     `json:"plain_rows"`
	PreparedAt     string  `json:"prepared_at"`
	DemoSeconds    float64 `json:"demo_seconds"`
	CopySeconds    float64 `json:"copy_seconds"`
}

// readDataset reads the marker of a prepared directory.
func readDataset(dir string) (dataset, error) {
	var ds dataset
	err := harness.ReadJSON(filepath.Join(dir, markerFile), &ds)
	return ds, err
}

// prepOptions say what data to prepare where.
type prepOptions struct {
	Dir      string
	Patients int
	Seed     uint64
	// Argon2, if set, replaces the demo logins' password-hashing cost
	// (tests only; the benchmark never signs in).
	Argon2 *identity.Argon2Params
}

// prepare returns the dataset in o.Dir, making it first if the directory
// does not exist: demo data, one bench patient with benchResults results,
// and the unencrypted copy of every patient's results.
func prepare(ctx context.Context, o prepOptions, stderr io.Writer) (dataset, error) {
	dir, patients, seed := o.Dir, o.Patients, o.Seed
	var ds dataset
	ok, err := harness.Prepared(dir, markerFile, &ds)
	if err != nil {
		return ds, err
	}
	if ok {
		if ds.Patients != patients || ds.Seed != seed {
			return ds, fmt.Errorf("bench: %s holds %d patients with seed %d, not %d with seed %d; choose another -data", dir, ds.Patients, ds.Seed, patients, seed)
		}
		return ds, nil
	}

	a, err := harness.OpenToPrepare(ctx, dir, patients, seed, app.Options{Argon2: o.Argon2})
	if err != nil {
		return ds, err
	}
	defer a.Close()
	ds = dataset{Patients: patients, Seed: seed, BenchResults: benchResults}

	fmt.Fprintf(stderr, "bench: creating %d demo patients (seed %d) in %s…\n", patients, seed, dir)
	start := time.Now()
	if _, err := a.LoadDemo(ctx, stderr); err != nil {
		return ds, err
	}
	if ds.ClinicianID, err = clinicianID(ctx, a.DB); err != nil {
		return ds, err
	}
	now := a.Clock.Now()
	p, rs := benchPatient(seed, now)
	if err := a.Clinical.Import(ctx, "bench", clinical.Batch{Patients: []clinical.Patient{p}, Results: rs}); err != nil {
		return ds, err
	}
	if err := access.AddToCareTeam(ctx, a.DB, p.ID, ds.ClinicianID, now); err != nil {
		return ds, fmt.Errorf("bench: care team: %w", err)
	}
	ds.BenchPatientID = p.ID
	ds.DemoSeconds = time.Since(start).Seconds()

	fmt.Fprintf(stderr, "bench: copying every patient's decrypted results to %s…\n", plainTable)
	start = time.Now()
	if ds.PlainRows, err = copyPlain(ctx, a, access.Actor{UserID: ds.ClinicianID, Role: access.Clinician}, stderr); err != nil {
		return ds, err
	}
	ds.CopySeconds = time.Since(start).Seconds()
	ds.PreparedAt = time.Now().UTC().Format(time.RFC3339)

	if err := harness.WriteJSONIndent(filepath.Join(dir, markerFile), ds); err != nil {
		return ds, err
	}
	fmt.Fprintf(stderr, "bench: data ready: demo data and bench patient %.1fs, plain copy of %d results %.1fs\n", ds.DemoSeconds, ds.PlainRows, ds.CopySeconds)
	return ds, nil
}

// clinicianID is the demo urologist's user ID.
func clinicianID(ctx context.Context, db *store.DB) (string, error) {
	var id string
	err := db.QueryRowContext(ctx, `SELECT id FROM users WHERE role = $1 ORDER BY id LIMIT 1`, string(access.Clinician)).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("bench: no demo clinician: %w", err)
	}
	return id, nil
}

// benchPatient makes a fictional patient with exactly benchResults results:
// the histories of successive demo-generated men, each set moved five years
// further back so they read as one long history. It uses its own seed, so
// nothing it makes repeats a demo patient's record.
func benchPatient(seed uint64, now time.Time) (clinical.Patient, []clinical.LabResult) {
	gen := demo.NewGenerator(seed^0x62656e6368, now) // "bench"
	p, _ := gen.Patient(0)
	p.ID = uuid.NewString()
	p.MRN = "BENCH-000001" // demo MRNs are DEMO-nnnnnn; MRNs are unique
	p.Email = "bench.patient@example.org"
	var rs []clinical.LabResult
	for i, k := 0, 0; len(rs) < benchResults; i++ {
		if i%5 == 4 { // the generator's women have fewer tests; keep one man's panel
			continue
		}
		_, more := gen.Patient(i)
		for _, r := range more {
			r.ID, r.PatientID = uuid.NewString(), p.ID
			r.CollectedAt, r.ResultedAt = r.CollectedAt.AddDate(-5*k, 0, 0), r.ResultedAt.AddDate(-5*k, 0, 0)
			rs = append(rs, r)
		}
		k++
	}
	return p, rs[:benchResults]
}

// copyPlain reads every patient's results through the clinical service (so
// they are decrypted, checked and audited as the product does it) and writes
// them to the unencrypted copy. It returns the number of rows copied.
func copyPlain(ctx context.Context, a *app.App, actor access.Actor, stderr io.Writer) (int, error) {
	if _, err := a.DB.ExecContext(ctx, plainSchema); err != nil {
		return 0, fmt.Errorf("bench: create %s: %w", plainTable, err)
	}
	ids, err := harness.PatientIDs(ctx, a.DB)
	if err != nil {
		return 0, err
	}

	bar := app.NewProgress(stderr, int64(len(ids)), "plain copy")
	const batch = 200
	n := 0
	for start := 0; start < len(ids); start += batch {
		var all []clinical.LabResult
		for _, id := range ids[start:min(start+batch, len(ids))] {
			rs, err := a.Clinical.LabResults(ctx, actor, id, "")
			if err != nil {
				return n, fmt.Errorf("bench: read results of %s: %w", id, err)
			}
			all = append(all, rs...)
		}
		if err := a.DB.InTx(ctx, func(tx *sql.Tx) error { return insertPlain(ctx, tx, all) }); err != nil {
			return n, err
		}
		n += len(all)
		bar(int64(min(start+batch, len(ids))))
	}
	return n, nil
}
