package app_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"uroportal/internal/demo"
)

var codeRe = regexp.MustCompile(`<code>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})</code>`)

// signInBrowser signs a demo login in through the HTML forms.
func signInBrowser(t *testing.T, base string, l demo.Login) *browser {
	t.Helper()
	b := newBrowser(t, base)
	signInAgain(t, b, l)
	return b
}

// signInAgain signs a demo login in within an existing browser. Each call
// waits for a fresh TOTP step, since a code works only once.
func signInAgain(t *testing.T, b *browser, l demo.Login) {
	t.Helper()
	if st, where, _ := b.post("/signin", "/signin", url.Values{"email": {l.Email}, "password": {l.Password}}); st != 200 || where != "/signin/verify" {
		t.Fatalf("%s password: %d %s", l.Role, st, where)
	}
	if st, where, _ := b.post("/signin/verify", "/signin/verify", url.Values{"method": {"totp"}, "code": {b.totp(l.TOTPSecret)}}); st != 200 || where != "/" {
		t.Fatalf("%s TOTP: %d %s", l.Role, st, where)
	}
}

func TestPatientActivation(t *testing.T) {
	cfg := demoConfig(t, "")
	base, stop := startReal(t, cfg)
	defer stop()
	desk := signInBrowser(t, base, findLogin(t, cfg.DataDir, "frontdesk"))
	// Patient 3 of the demo has no account yet.
	gen := demo.NewGenerator(cfg.DemoSeed, time.Now())
	gen.Patient(0) // the generator is a sequence
	gen.Patient(1)
	p, _ := gen.Patient(2)

	issue := func() string {
		st, _, page := desk.post("/staff/activation", "/staff/activation", url.Values{"mrn": {p.MRN}})
		m := codeRe.FindStringSubmatch(page)
		if st != 200 || m == nil || !strings.Contains(page, p.FamilyName) {
			t.Fatalf("issue: %d %v", st, m)
		}
		return m[1]
	}
	code := issue()
	if st, _, page := desk.post("/staff/activation", "/staff/activation", url.Values{"mrn": {"DEMO-999999"}}); st != 200 || !strings.Contains(page, "could not find") {
		t.Fatalf("unknown MRN: %d", st)
	}

	pat := newBrowser(t, base)
	form := func(code, dob, family string) url.Values {
		return url.Values{"code": {code}, "birth_date": {dob}, "family_name": {family}, "email": {"new.patient@example.org"},
			"password": {"velvet compass orchard ribbon"}, "confirm": {"velvet compass orchard ribbon"}}
	}
	for i := range 3 {
		st, where, page := pat.post("/activate", "/activate", form(code, "1900-01-01", p.FamilyName))
		if st != 400 || where != "/activate" || !strings.Contains(page, "did not match") {
			t.Fatalf("wrong birth date %d: %d %s", i+1, st, where)
		}
	}
	// Burned: even the right answers no longer work.
	if st, _, _ := pat.post("/activate", "/activate", form(code, p.BirthDate, p.FamilyName)); st != 400 {
		t.Fatalf("burned code: %d", st)
	}
	code = issue()
	st, where, page := pat.post("/activate", "/activate", form(code, p.BirthDate, "  "+strings.ToUpper(p.FamilyName)+" "))
	if st != 200 || where != "/" {
		t.Fatalf("activation: %d %s %.300s", st, where, page)
	}
	if st, page := pat.get("/patients/" + p.ID + "/results"); st != 200 || !strings.Contains(page, "Creatinine") {
		t.Fatalf("new patient's results: %d", st)
	}
	if st, _, _ := pat.post("/activate", "/activate", form(code, p.BirthDate, p.FamilyName)); st != 400 {
		t.Fatalf("a used code worked again: %d", st)
	}
	// The front desk sees demographics, never results.
	if st, _ := desk.get("/patients/" + p.ID + "/results"); st != 404 {
		t.Fatalf("front desk read results: %d", st)
	}
	// A patient cannot issue codes.
	if st, _, _ := pat.post("/account", "/staff/activation", url.Values{"mrn": {p.MRN}}); st != 200 {
		t.Fatalf("patient issuing: %d", st)
	} else if _, _, page := pat.post("/account", "/staff/activation", url.Values{"mrn": {p.MRN}}); codeRe.MatchString(page) {
		t.Fatal("a patient was given an activation code")
	}
}
