package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"uroportal/bench/internal/harness"
	"uroportal/internal/access"
	"uroportal/internal/app"
	"uroportal/internal/demo"
	"uroportal/internal/identity"
)

// markerFile, in the data directory, says preparation finished and what it
// made. A directory without it is not reused.
const markerFile = "signin-bench.json"

// accountsFile holds the bench accounts' sign-in details (mode 0600), as
// demo-logins.json does for the demo's.
const accountsFile = "signin-accounts.json"

// dataset is what preparation made.
type dataset struct {
	Patients       int                   `json:"patients"`
	Seed           uint64                `json:"seed"`
	Accounts       int                   `json:"accounts"`
	Argon2         identity.Argon2Params `json:"argon2"`
	PreparedAt     string                `json:"prepared_at"`
	DemoSeconds    float64               `json:"demo_seconds"`
	AccountSeconds float64               `json:"account_seconds"`
}

// benchAccount is one bench account's sign-in details: a patient user of a
// demo patient's record.
type benchAccount struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	TOTPSecret string `json:"totp_secret"`
	PatientID  string `json:"patient_id"`
}

// readDataset reads the marker of a prepared directory.
func readDataset(dir string) (dataset, error) {
	var ds dataset
	err := harness.ReadJSON(filepath.Join(dir, markerFile), &ds)
	return ds, err
}

func readAccounts(dir string) ([]benchAccount, error) {
	b, err := os.ReadFile(filepath.Join(dir, accountsFile))
	if err != nil {
		return nil, err
	}
	var as []benchAccount
	return as, json.Unmarshal(b, &as)
}

// prepOptions say what data to prepare where.
type prepOptions struct {
	Dir      string
	Patients int
	Seed     uint64
	Accounts int
	// Argon2 is the password-hashing cost of every account, and the one the
	// server runs with. The benchmark uses identity.DefaultArgon2; the test
	// a cheap one.
	Argon2 identity.Argon2Params
}

// prepare returns the dataset in o.Dir, making it first if the directory
// does not exist: demo data, then o.Accounts patient accounts (each a user
// of one demo patient's record, round robin) with a random 32-character
// password and their own TOTP secret.
func prepare(ctx context.Context, o prepOptions, stderr io.Writer) (dataset, error) {
	var ds dataset
	ok, err := harness.Prepared(o.Dir, markerFile, &ds)
	if err != nil {
		return ds, err
	}
	if ok {
		if ds.Patients != o.Patients || ds.Seed != o.Seed || ds.Accounts != o.Accounts || ds.Argon2 != o.Argon2 {
			return ds, fmt.Errorf("bench: %s holds %d patients (seed %d), %d accounts, argon2 %+v; not what was asked; choose another -data",
				o.Dir, ds.Patients, ds.Seed, ds.Accounts, ds.Argon2)
		}
		return ds, nil
	}
	if o.Accounts < 1 {
		return ds, errors.New("bench: -accounts must be at least 1")
	}
	argon := o.Argon2
	a, err := harness.OpenToPrepare(ctx, o.Dir, o.Patients, o.Seed, app.Options{Argon2: &argon})
	if err != nil {
		return ds, err
	}
	defer a.Close()
	ds = dataset{Patients: o.Patients, Seed: o.Seed, Accounts: o.Accounts, Argon2: o.Argon2}

	fmt.Fprintf(stderr, "bench: creating %d demo patients (seed %d) in %s…\n", o.Patients, o.Seed, o.Dir)
	start := time.Now()
	if _, err := a.LoadDemo(ctx, stderr); err != nil {
		return ds, err
	}
	ds.DemoSeconds = time.Since(start).Seconds()

	pids, err := harness.PatientIDs(ctx, a.DB)
	if err != nil {
		return ds, err
	}

	fmt.Fprintf(stderr, "bench: creating %d sign-in accounts (argon2id %d MiB, %d passes each)…\n", o.Accounts, o.Argon2.MemoryKiB/1024, o.Argon2.Passes)
	start = time.Now()
	bar := app.NewProgress(stderr, int64(o.Accounts), "accounts")
	accounts := make([]benchAccount, 0, o.Accounts)
	const batch = 25
	for from := 0; from < o.Accounts; from += batch {
		var made []benchAccount
		err := a.DB.InTx(ctx, func(tx *sql.Tx) error {
			made = made[:0]
			for i := from; i < min(from+batch, o.Accounts); i++ {
				ac := benchAccount{
					Email:      fmt.Sprintf("signin.bench.%05d@example.org", i),
					Password:   "bench-" + rand.Text(), // 6 + 26 characters, 130 random bits
					TOTPSecret: identity.NewTOTPSecret(),
					PatientID:  pids[i%len(pids)],
				}
				u := identity.User{Email: ac.Email, Name: fmt.Sprintf("Bench Sign-in %05d (fictional)", i), Role: access.Patient, PatientID: ac.PatientID}
				if _, err := a.Users.Create(ctx, tx, u, ac.Password, ac.TOTPSecret); err != nil {
					return fmt.Errorf("bench: account %d: %w", i, err)
				}
				made = append(made, ac)
			}
			return nil
		})
		if err != nil {
			return ds, err
		}
		accounts = append(accounts, made...)
		bar(int64(len(accounts)))
	}
	ds.AccountSeconds = time.Since(start).Seconds()
	if err := harness.WriteJSONIndent(filepath.Join(o.Dir, accountsFile), accounts); err != nil {
		return ds, err
	}
	ds.PreparedAt = time.Now().UTC().Format(time.RFC3339)
	if err := harness.WriteJSONIndent(filepath.Join(o.Dir, markerFile), ds); err != nil {
		return ds, err
	}
	fmt.Fprintf(stderr, "bench: data ready: demo data %.1fs, %d accounts %.1fs\n", ds.DemoSeconds, o.Accounts, ds.AccountSeconds)
	return ds, nil
}

// demoPatient is the first demo patient's login from demo-logins.json.
func demoPatient(dir string) (demo.Login, error) {
	ls, err := demo.ReadLogins(dir)
	if err != nil {
		return demo.Login{}, err
	}
	for _, l := range ls {
		if l.Role == string(access.Patient) {
			return l, nil
		}
	}
	return demo.Login{}, fmt.Errorf("bench: no patient in %s", demo.LoginsFile)
}
