package demo

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/clinical"
	"uroportal/internal/clock"
	"uroportal/internal/identity"
	"uroportal/internal/store"
)

// LoginsFile is the demo logins' file name in the data directory.
const LoginsFile = "demo-logins.json"

// Login is one entry of demo-logins.json (CONTRACT.md).
type Login struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	Role       string `json:"role"`
	TOTPSecret string `json:"totp_secret"`
	PatientID  string `json:"patient_id,omitempty"`
}

// Deps are what loading needs.
type Deps struct {
	DB       *store.DB
	Clinical *clinical.Service
	Users    *identity.Store
	Clock    clock.Clock
}

// Options choose what to make.
type Options struct {
	Patients int
	Seed     uint64
	DataDir  string
	// Progress, if set, hears patients done of total.
	Progress func(done, total int)
}

// ErrHasData means the database already holds accounts, so demo data would
// mix with it.
var ErrHasData = errors.New("demo: the database already has accounts")

// HasData reports whether the database holds any account.
func HasData(ctx context.Context, db *store.DB) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n > 0, err
}

// Load fills an empty database with demo patients and one login per role,
// and writes the logins to DataDir/demo-logins.json (mode 0600).
func Load(ctx context.Context, d Deps, o Options) ([]Login, error) {
	if o.Patients < 2 {
		return nil, fmt.Errorf("demo: --patients must be at least 2 (one patient login and one patient a proxy acts for)")
	}
	has, err := HasData(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	if has {
		return nil, fmt.Errorf("%w; demo data goes into a new, empty data directory or database", ErrHasData)
	}
	gen := NewGenerator(o.Seed, d.Clock.Now())
	const batch = 100
	var first []clinical.Patient
	for start := 0; start < o.Patients; start += batch {
		var b clinical.Batch
		for i := start; i < min(start+batch, o.Patients); i++ {
			p, rs := gen.Patient(i)
			b.Patients = append(b.Patients, p)
			b.Results = append(b.Results, rs...)
			if i < 2 {
				first = append(first, p)
			}
		}
		if err := d.Clinical.Import(ctx, "demo", b); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(min(start+batch, o.Patients), o.Patients)
		}
	}

	people := []struct {
		role      access.Role
		email     string
		name      string
		patientID string
	}{
		{access.Patient, first[0].Email, first[0].GivenName + " " + first[0].FamilyName, first[0].ID},
		{access.Patient, first[1].Email, first[1].GivenName + " " + first[1].FamilyName, first[1].ID},
		{access.Proxy, "demo.caregiver@example.org", "Casey Caregiver (fictional)", ""},
		{access.Clinician, "demo.urologist@example.org", "Dr. Demo Urologist (fictional)", ""},
		{access.Nurse, "demo.nurse@example.org", "Nina Nurse (fictional)", ""},
		{access.FrontDesk, "demo.frontdesk@example.org", "Frank Frontdesk (fictional)", ""},
		{access.Billing, "demo.billing@example.org", "Bill Billing (fictional)", ""},
		{access.Admin, "demo.admin@example.org", "Ada Admin (fictional)", ""},
		{access.Security, "demo.security@example.org", "Sam Security (fictional)", ""},
		{access.Auditor, "demo.auditor@example.org", "Audrey Auditor (fictional)", ""},
	}
	now := d.Clock.Now()
	var logins []Login
	err = d.DB.InTx(ctx, func(tx *sql.Tx) error {
		logins = logins[:0]
		for _, p := range people {
			pw, secret := password(), identity.NewTOTPSecret()
			u, err := d.Users.Create(ctx, tx, identity.User{Email: p.email, Name: p.name, Role: p.role, PatientID: p.patientID}, pw, secret)
			if err != nil {
				return err
			}
			l := Login{Email: u.Email, Password: pw, Role: string(p.role), TOTPSecret: secret, PatientID: p.patientID}
			switch p.role {
			case access.Proxy:
				// The caregiver acts for the second demo patient.
				l.PatientID = first[1].ID
				if err := access.AddProxy(ctx, tx, u.ID, first[1].ID, []access.Category{access.Results, access.Demographics}, now.AddDate(1, 0, 0), now); err != nil {
					return err
				}
			case access.Clinician, access.Nurse:
				if err := addCareTeamAll(ctx, tx, u.ID, now); err != nil {
					return err
				}
			}
			logins = append(logins, l)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return logins, WriteLogins(o.DataDir, logins)
}

// The demo practice has one urologist and one nurse, on every care team.
func addCareTeamAll(ctx context.Context, tx *sql.Tx, userID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO care_team (patient_id, user_id, created_at) SELECT id, $1, $2 FROM patients`, userID, now.UnixMilli())
	return err
}

// WriteLogins writes demo-logins.json with mode 0600.
func WriteLogins(dir string, logins []Login) error {
	b, err := json.MarshalIndent(logins, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, LoginsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("demo: write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ReadLogins reads demo-logins.json.
func ReadLogins(dir string) ([]Login, error) {
	b, err := os.ReadFile(filepath.Join(dir, LoginsFile))
	if err != nil {
		return nil, err
	}
	var ls []Login
	return ls, json.Unmarshal(b, &ls)
}

// password is a random demo password (130 bits, crypto/rand.Text) in
// groups of four letters so it can be read aloud and typed.
func password() string {
	t := strings.ToLower(rand.Text())
	var b strings.Builder
	for i, c := range t {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(c)
	}
	return b.String()
}
