package app_test

import (
	"context"
	"net/url"

	"strings"
	"testing"

	"time"
	"uroportal/internal/app"
)

// A patient's access history shows the clinician who viewed their PSA
// results, with the clinician's name and the time.
func TestPatientSeesWhoViewedTheirPSA(t *testing.T) {
	cfg := demoConfig(t, "")
	base, stop := startReal(t, cfg)
	defer stop()
	pat := findLogin(t, cfg.DataDir, "patient")
	doc := apiSignIn(t, base, findLogin(t, cfg.DataDir, "clinician"))
	before := time.Now().UTC()
	if st, _, raw := apiCall(t, "GET", base+"/api/v1/patients/"+pat.PatientID+"/labs?code=2857-1", doc, nil); st != 200 {
		t.Fatalf("clinician PSA: %d %s", st, raw)
	}
	b := signInBrowser(t, base, pat)
	st, page := b.get("/patients/" + pat.PatientID + "/access-history")
	if st != 200 {
		t.Fatalf("history: %d", st)
	}
	i := strings.Index(page, "Dr. Demo Urologist (fictional)")
	if i < 0 {
		t.Fatal("the clinician's name is not in the access history")
	}
	row := page[i:min(len(page), i+600)]
	if !strings.Contains(row, "Doctor") || !strings.Contains(row, "Looked at lab results") || !strings.Contains(row, before.Format("Jan 2, 2006")) {
		t.Fatalf("the clinician's row lacks role, action or date: %s", row)
	}
	// Another patient's history is not found, like any record they may not see.
	other := findLogin(t, cfg.DataDir, "proxy") // acts for the second patient only
	ob := signInBrowser(t, base, other)
	if st, _ := ob.get("/patients/" + pat.PatientID + "/access-history"); st != 404 {
		t.Fatalf("a proxy of another patient read this history: %d", st)
	}
	// A proxy's reads are recorded as the proxy acting for the patient.
	proxy := other
	if st, _ := ob.get("/patients/" + proxy.PatientID + "/results"); st != 200 {
		t.Fatalf("proxy read: %d", st)
	}
	op, err := app.Open(context.Background(), cfg, quiet(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	var via string
	op.DB.QueryRow(`SELECT acting_for FROM audit_events WHERE patient_id = $1 AND actor_role = 'proxy' AND event_type = 'phi.results.view'`, proxy.PatientID).Scan(&via)
	op.Close()
	if via != "proxy" {
		t.Fatalf("proxy read recorded with acting_for %q", via)
	}
}

func TestSecurityOfficerAuditReport(t *testing.T) {
	cfg := demoConfig(t, "")
	base, stop := startReal(t, cfg)
	defer stop()
	apiCall(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": "nobody@example.org", "password": "wrong wrong wrong wrong"})
	sec := signInBrowser(t, base, findLogin(t, cfg.DataDir, "security"))
	st, page := sec.get("/security/audit?type=auth.signin&outcome=failure")
	if st != 200 || !strings.Contains(page, "unknown_account") {
		t.Fatalf("report: %d", st)
	}
	res, err := sec.c.Get(base + "/security/audit/export/csv?type=auth.signin")
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 4096)
	n, _ := res.Body.Read(body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(string(body[:n]), "seq,time_utc,type") || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV export: %d %q", res.StatusCode, body[:n])
	}
	if st, _ := sec.get("/security/audit?from=yesterday"); st != 400 {
		t.Fatalf("bad date: %d", st)
	}
	nurse := signInBrowser(t, base, findLogin(t, cfg.DataDir, "nurse"))
	if st, _ := nurse.get("/security/audit"); st != 404 {
		t.Fatalf("a nurse opened the audit log: %d", st)
	}
	// The export itself is in the log.
	_, page = sec.get("/security/audit?type=audit.report.export")
	if !strings.Contains(page, "audit.report.export") {
		t.Fatal("the export was not recorded")
	}
}

func TestSecurityAlertsDashboard(t *testing.T) {
	cfg := demoConfig(t, "")
	base, stop := startReal(t, cfg)
	defer stop()
	nurse := findLogin(t, cfg.DataDir, "nurse")
	for range 10 {
		apiCall(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": nurse.Email, "password": "wrong wrong wrong wrong"})
	}
	op, err := app.Open(context.Background(), cfg, quiet(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	al, err := op.Alerter()
	if err != nil {
		t.Fatal(err)
	}
	raised, err := op.ScanAlerts(context.Background(), al)
	if err != nil || len(raised) == 0 {
		t.Fatalf("no alert for ten failed sign-ins: %v", err)
	}
	var mails int
	op.DB.QueryRow(`SELECT count(*) FROM mail_outbox WHERE kind = 'security_alert'`).Scan(&mails)
	if mails != 1 {
		t.Fatalf("%d alert emails queued for the one security officer", mails)
	}
	sec := signInBrowser(t, base, findLogin(t, cfg.DataDir, "security"))
	if st, page := sec.get("/security/alerts"); st != 200 || !strings.Contains(page, "failed sign-ins on one account") {
		t.Fatalf("dashboard: %d", st)
	}
	billing := signInBrowser(t, base, findLogin(t, cfg.DataDir, "billing"))
	if st, _ := billing.get("/security/alerts"); st != 404 {
		t.Fatalf("billing opened the alerts: %d", st)
	}
	// The security officer marks a record; billing may not.
	if st, _, page := sec.post("/security/alerts", "/security/flags", url.Values{"mrn": {"DEMO-000003"}, "flag": {"vip"}, "on": {"yes"}}); st != 200 || !strings.Contains(page, "Saved") {
		t.Fatalf("flag: %d", st)
	}
	if st, _, page := sec.post("/security/alerts", "/security/flags", url.Values{"mrn": {"DEMO-999999"}, "flag": {"vip"}}); st != 200 || !strings.Contains(page, "no patient") {
		t.Fatalf("unknown MRN: %d", st)
	}
	if st, _, _ := billing.post("/", "/security/flags", url.Values{"mrn": {"DEMO-000003"}, "flag": {"vip"}}); st != 404 {
		t.Fatalf("billing flagged a record: %d", st)
	}
}

// Loading demo data and a day of demo sign-ins and reads raise no alert.
func TestDemoTrafficRaisesNoAlert(t *testing.T) {
	cfg := demoConfig(t, "")
	cfg.DemoPatients = 40
	cfg.WorkHours = "0-24" // the test runs at any hour and on weekends
	base, stop := startReal(t, cfg)
	defer stop()
	for _, role := range []string{"patient", "clinician", "nurse", "frontdesk"} {
		l := findLogin(t, cfg.DataDir, role)
		tok := apiSignIn(t, base, l)
		apiCall(t, "GET", base+"/api/v1/me", tok, nil)
		apiCall(t, "GET", base+"/api/v1/patients/"+findLogin(t, cfg.DataDir, "patient").PatientID+"/labs", tok, nil)
	}
	op, err := app.Open(context.Background(), cfg, quiet(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	al, _ := op.Alerter()
	al.Config.Off = nil
	raised, err := al.Scan(context.Background())
	if err != nil || len(raised) != 0 {
		t.Fatalf("demo traffic raised %v (%v)", raised, err)
	}
}
