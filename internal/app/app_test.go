package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"uroportal/internal/access"
	"uroportal/internal/app"
	"uroportal/internal/config"
	"uroportal/internal/demo"
	"uroportal/internal/fault"
	"uroportal/internal/identity"
	"uroportal/internal/keyring"
	"uroportal/internal/logs"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

// Tests hash demo passwords cheaply; identity's own tests cover the cost.
var testOptions = app.Options{Argon2: &identity.Argon2Params{MemoryKiB: 1024, Passes: 1, Threads: 1}}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func demoConfig(t *testing.T, dbURL string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.DatabaseURL = dbURL
	cfg.DemoPatients = 12
	return cfg
}

// The raw SQLite files hold no demo PHI in plaintext.
func TestNoPlaintextPHIOnDisk(t *testing.T) {
	ctx := context.Background()
	cfg := demoConfig(t, "")
	a, err := app.Open(ctx, cfg, quiet(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.LoadDemo(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Read the database and its WAL while the server would still be
	// running: nothing has been checkpointed away.
	var raw []byte
	for _, name := range []string{store.SQLiteFile, store.SQLiteFile + "-wal"} {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	if len(raw) < 100_000 {
		t.Fatalf("only %d bytes on disk: demo data missing?", len(raw))
	}
	gen := demo.NewGenerator(cfg.DemoSeed, a.Clock.Now())
	checked := 0
	for i := range cfg.DemoPatients {
		p, rs := gen.Patient(i)
		secrets := []string{p.MRN, p.BirthDate, p.GivenName + " " + p.FamilyName, p.FamilyName, p.Address, p.Email}
		for _, r := range rs {
			// Values of five or more bytes: a shorter string turns up in
			// megabytes of ciphertext by chance.
			if len(r.Value) >= 5 {
				secrets = append(secrets, r.Value)
			}
		}
		for _, s := range secrets {
			checked++
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("patient %d: %q is in the database files in plaintext", i, s)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked only %d values", checked)
	}
	// The check can fail: the generator really produced these strings and
	// the scan finds plaintext where it exists.
	if !bytes.Contains(raw, []byte("patients")) {
		t.Fatal("the scan does not see plaintext that is there (table names)")
	}
}

func TestDemoLoginsAndAccess(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { testDemoLoginsAndAccess(t, d) })
	}
}

func testDemoLoginsAndAccess(t *testing.T, d store.Dialect) {
	{
		ctx := context.Background()
		url := ""
		if d == store.Postgres {
			url = storetest.PostgresURL(t)
		}
		cfg := demoConfig(t, url)
		a, err := app.Open(ctx, cfg, quiet(), testOptions)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		logins, err := a.LoadDemo(ctx, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(cfg.DataDir, demo.LoginsFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("demo-logins.json: %v mode %v", err, fi.Mode().Perm())
		}
		roles := map[string]bool{}
		for _, l := range logins {
			roles[l.Role] = true
			if len(l.Password) < 15 || l.TOTPSecret == "" || l.Email == "" {
				t.Errorf("weak or incomplete demo login for %s", l.Role)
			}
		}
		for _, r := range access.Roles {
			if !roles[string(r)] {
				t.Errorf("no demo login for role %s", r)
			}
		}
		if _, err := a.LoadDemo(ctx, io.Discard); err == nil {
			t.Fatal("demo data loaded twice into one database")
		}

		var patientA, patientB string
		var clinicianID, billingID string
		rows, _ := a.DB.QueryContext(ctx, `SELECT id, role, COALESCE(patient_id, '') FROM users`)
		for rows.Next() {
			var id, role, pid string
			rows.Scan(&id, &role, &pid)
			switch {
			case role == "patient" && patientA == "":
				patientA = pid
			case role == "patient":
				patientB = pid
			case role == "clinician":
				clinicianID = id
			case role == "billing":
				billingID = id
			}
		}
		rows.Close()
		// Patient A's user sees their own results, not B's.
		var aUser string
		a.DB.QueryRowContext(ctx, `SELECT id FROM users WHERE patient_id = $1`, patientA).Scan(&aUser)
		me := access.Actor{UserID: aUser, Role: access.Patient, PatientID: patientA}
		rs, err := a.Clinical.LabResults(ctx, me, patientA, "")
		if err != nil || len(rs) == 0 {
			t.Fatalf("own results: %d, %v", len(rs), err)
		}
		if _, err := a.Clinical.LabResults(ctx, me, patientB, ""); err != access.ErrDenied {
			t.Fatalf("other patient's results: %v, want ErrDenied", err)
		}
		psa, err := a.Clinical.LabResults(ctx, access.Actor{UserID: clinicianID, Role: access.Clinician}, patientA, demo.CodePSA)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range psa {
			if r.Code != demo.CodePSA {
				t.Fatalf("code filter let through %s", r.Code)
			}
		}
		if _, err := a.Clinical.LabResults(ctx, access.Actor{UserID: billingID, Role: access.Billing}, patientA, ""); err != access.ErrDenied {
			t.Fatalf("billing read results: %v", err)
		}
		var denied, viewed int
		a.DB.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE outcome = 'denied'`).Scan(&denied)
		a.DB.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE event_type = 'phi.results.view' AND outcome = 'success'`).Scan(&viewed)
		if denied != 2 || viewed != 2 {
			t.Fatalf("audit: %d denials, %d views; want 2 and 2", denied, viewed)
		}
	}
}

// A ciphertext moved to another row, or altered, is refused: the page fails
// safely, nothing is shown as garbage, and the log names no PHI.
func TestTamperedFieldRefused(t *testing.T) {
	ctx := context.Background()
	cfg := demoConfig(t, "")
	var logBuf bytes.Buffer
	a, err := app.Open(ctx, cfg, logs.New(&logBuf, slog.LevelDebug), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.LoadDemo(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	var pid, uid, r1, r2 string
	a.DB.QueryRowContext(ctx, `SELECT patient_id, id FROM users WHERE role = 'patient' LIMIT 1`).Scan(&pid, &uid)
	a.DB.QueryRowContext(ctx, `SELECT id FROM lab_results WHERE patient_id = $1 ORDER BY id LIMIT 1`, pid).Scan(&r1)
	a.DB.QueryRowContext(ctx, `SELECT id FROM lab_results WHERE patient_id = $1 ORDER BY id DESC LIMIT 1`, pid).Scan(&r2)
	me := access.Actor{UserID: uid, Role: access.Patient, PatientID: pid}
	if _, err := a.Clinical.LabResults(ctx, me, pid, ""); err != nil {
		t.Fatal(err)
	}
	// Copy r2's value ciphertext over r1's, as an attacker with database
	// access might.
	if _, err := a.DB.ExecContext(ctx, `UPDATE lab_results SET value = (SELECT value FROM lab_results WHERE id = $1) WHERE id = $2`, r2, r1); err != nil {
		t.Fatal(err)
	}
	rs, err := a.Clinical.LabResults(ctx, me, pid, "")
	if err == nil || rs != nil {
		t.Fatalf("moved ciphertext: %d results, err %v", len(rs), err)
	}
	if !errors.Is(err, keyring.ErrTampered) || fault.KindOf(err) != fault.Internal {
		t.Fatalf("err = %v (kind %v), want ErrTampered, Internal", err, fault.KindOf(err))
	}
	if msg := fault.Message(err); strings.Contains(msg, r1) || strings.Contains(msg, "lab_results") {
		t.Fatalf("the user-facing message reveals internals: %q", msg)
	}
	// The error names where, never what.
	a.Log.Error("read failed", slog.String(logs.KeyError, err.Error()))
	gen := demo.NewGenerator(cfg.DemoSeed, a.Clock.Now())
	p, results := gen.Patient(0)
	for _, s := range []string{p.FamilyName, p.MRN, p.BirthDate} {
		if strings.Contains(logBuf.String(), s) || strings.Contains(err.Error(), s) {
			t.Fatalf("PHI %q in the error or log", s)
		}
	}
	for _, r := range results {
		if len(r.Value) >= 5 && strings.Contains(err.Error(), r.Value) {
			t.Fatalf("result value in the error: %v", err)
		}
	}
	// Flipping one bit of a stored ciphertext is refused the same way.
	a.DB.ExecContext(ctx, `UPDATE lab_results SET value = (SELECT value FROM lab_results WHERE id = $1) WHERE id = $1`, r2)
	var ct []byte
	a.DB.QueryRowContext(ctx, `SELECT unit FROM lab_results WHERE id = $1`, r2).Scan(&ct)
	ct[len(ct)-1] ^= 1
	a.DB.ExecContext(ctx, `UPDATE lab_results SET unit = $1 WHERE id = $2`, ct, r2)
	if _, err := a.Clinical.LabResults(ctx, me, pid, ""); !errors.Is(err, keyring.ErrTampered) {
		t.Fatalf("flipped bit: %v", err)
	}
}

func readKEK(t *testing.T, dir string) (string, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, keyring.KEKFileName))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "uroportal-kek-v1:"), nil
}
