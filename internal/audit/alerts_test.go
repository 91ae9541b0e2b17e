package audit_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/clock"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

type day struct {
	l   *audit.Log
	clk *clock.Fake
}

func newDay(t *testing.T, db *store.DB, start time.Time) *day {
	l := newLog(t, db)
	clk := clock.NewFake(start)
	l.Clock = clk
	return &day{l: l, clk: clk}
}

func (d *day) at(t *testing.T, hm string, ip string, e audit.Event) {
	t.Helper()
	tm, _ := time.Parse("15:04", hm)
	now := d.clk.Now()
	d.clk.Set(time.Date(now.Year(), now.Month(), now.Day(), tm.Hour(), tm.Minute(), 0, 0, time.UTC))
	ctx := audit.WithRequest(context.Background(), audit.Request{ID: "r", SourceIP: ip})
	if err := d.l.Record(ctx, nil, e); err != nil {
		t.Fatal(err)
	}
}

func view(actor, role, patient string) audit.Event {
	return audit.Event{Type: "phi.results.view", Outcome: audit.Success, Actor: access.Actor{UserID: actor, Role: access.Role(role)}, PatientID: patient, Category: access.Results, Action: access.View}
}

func failed(actor string) audit.Event {
	return audit.Event{Type: "auth.signin", Outcome: "failure", Actor: access.Actor{UserID: actor}, Category: "security", Action: "sign-in", Reason: "bad_password"}
}

func rules(as []audit.Alert) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.Rule]++
	}
	return m
}

// A normal day of practice traffic raises nothing.
func TestAlertsQuietOnANormalDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDay(t, db, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)) // a Tuesday
		for i := range 12 {
			d.at(t, fmt.Sprintf("%02d:%02d", 9+i/3, (i%3)*15), "10.0.0.5", view("clin", "clinician", fmt.Sprintf("p%d", i)))
			d.at(t, fmt.Sprintf("%02d:%02d", 9+i/3, (i%3)*15+5), "10.0.0.6", view("nurse", "nurse", fmt.Sprintf("p%d", i)))
		}
		for i := range 3 {
			d.at(t, fmt.Sprintf("10:%02d", i), "198.51.100.7", failed("pat1"))
		}
		d.at(t, "11:00", "10.0.0.9", audit.Event{Type: "audit.report.export", Outcome: audit.Success, Actor: access.Actor{UserID: "sec", Role: access.Security}, Category: access.AuditLog, Action: access.Export, Reason: "filter x; 50 rows"})
		al := &audit.Alerter{Log: d.l, Node: "n", SameFamilyName: func(context.Context, string, string) (bool, error) { return false, nil }}
		got, err := al.Scan(context.Background())
		if err != nil || len(got) != 0 {
			t.Fatalf("a normal day raised %v (%v)", rules(got), err)
		}
	})
}

func TestEachAlertRuleFires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		d := newDay(t, db, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
		var hooks []audit.Alert
		secret := []byte("hook secret")
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			m := hmac.New(sha256.New, secret)
			m.Write(body)
			if r.Header.Get("X-Uroportal-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
				w.WriteHeader(400)
				return
			}
			var a audit.Alert
			json.Unmarshal(body, &a)
			hooks = append(hooks, a)
		}))
		defer hook.Close()
		al := &audit.Alerter{Log: d.l, Node: "n", Webhook: hook.URL, WebhookSecret: secret,
			SameFamilyName: func(_ context.Context, actor, patient string) (bool, error) {
				return actor == "clin" && patient == "p-kin", nil
			}}

		for i := range 10 { // one account, many addresses
			d.at(t, fmt.Sprintf("09:%02d", i), fmt.Sprintf("203.0.113.%d", i), failed("victim"))
		}
		for i := range 10 { // one address, unknown accounts
			d.at(t, fmt.Sprintf("09:%02d", 20+i), "198.51.100.66", failed(""))
		}
		e := view("doc2", "clinician", "p1")
		e.ActingFor = "break-glass:grant-1"
		d.at(t, "10:00", "10.0.0.5", e)
		for i := range 25 {
			d.at(t, fmt.Sprintf("11:%02d", i), "10.0.0.5", view("snoop", "nurse", fmt.Sprintf("p%d", i)))
		}
		d.at(t, "12:00", "10.0.0.5", view("clin", "clinician", "p-kin"))
		d.at(t, "23:30", "10.0.0.5", view("night", "clinician", "p3"))
		d.at(t, "12:30", "10.0.0.9", audit.Event{Type: "audit.report.export", Outcome: audit.Success, Actor: access.Actor{UserID: "sec", Role: access.Security}, Category: access.AuditLog, Action: access.Export, Reason: "filter x; 5000 rows"})

		got, err := al.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{audit.RuleFailedSignInsAccount: 1, audit.RuleFailedSignInsAddress: 1, audit.RuleBreakGlass: 1, audit.RuleManyPatients: 1,
			audit.RuleSameFamilyName: 1, audit.RuleAfterHours: 1, audit.RuleBulkExport: 1}
		if fmt.Sprint(rules(got)) != fmt.Sprint(want) {
			t.Fatalf("raised %v, want %v", rules(got), want)
		}
		if len(hooks) != len(got) {
			t.Fatalf("webhook got %d of %d alerts", len(hooks), len(got))
		}
		// A second scan raises nothing new; the dashboard lists them.
		if again, _ := al.Scan(ctx); len(again) != 0 {
			t.Fatalf("scanning again raised %v", rules(again))
		}
		if list, err := d.l.Alerts(ctx, 100); err != nil || len(list) != len(got) {
			t.Fatalf("Alerts: %d %v", len(list), err)
		}
	})
}

func TestFlaggedRecordAlert(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		d := newDay(t, db, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
		db.ExecContext(ctx, `INSERT INTO patients (id, mrn_index, mrn, family_name, given_name, birth_date, sex, address, phone, email, created_at, updated_at)
			VALUES ('p-vip', $1, $2, $2, $2, $2, $2, $2, $2, $2, 0, 0)`, []byte("vip"), []byte("x"))
		if err := d.l.FlagPatient(ctx, access.Actor{UserID: "nurse", Role: access.Nurse}, "p-vip", "vip", true); err == nil {
			t.Fatal("a nurse flagged a record")
		}
		if err := d.l.FlagPatient(ctx, access.Actor{UserID: "sec", Role: access.Security}, "p-vip", "vip", true); err != nil {
			t.Fatal(err)
		}
		d.at(t, "10:00", "10.0.0.5", view("clin", "clinician", "p-vip"))
		d.at(t, "10:05", "10.0.0.5", view("clin", "clinician", "p-other"))
		got, err := (&audit.Alerter{Log: d.l, Node: "n"}).Scan(ctx)
		if err != nil || fmt.Sprint(rules(got)) != fmt.Sprint(map[string]int{audit.RuleFlaggedRecord: 1}) {
			t.Fatalf("raised %v (%v)", rules(got), err)
		}
	})
}

func TestOnlyTheSecurityOfficerChangesWhatIsRecorded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(t, db)
		own := audit.Event{Type: "phi.results.view", Outcome: audit.Success, Actor: access.Actor{UserID: "pat", Role: access.Patient, PatientID: "p1"},
			PatientID: "p1", Category: access.Results, Action: access.View}
		staff := view("clin", "clinician", "p1")
		count := func() int {
			var n int
			db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE event_type = 'phi.results.view'`).Scan(&n)
			return n
		}
		l.Record(ctx, nil, own)
		if count() != 1 {
			t.Fatal("own views are not recorded by default")
		}
		if err := l.ChangeSetting(ctx, access.Actor{UserID: "adm", Role: access.Admin}, audit.SettingOwnViews, false); err == nil {
			t.Fatal("an admin changed what is recorded")
		}
		if err := l.ChangeSetting(ctx, access.Actor{UserID: "sec", Role: access.Security}, audit.SettingOwnViews, false); err != nil {
			t.Fatal(err)
		}
		l.Record(ctx, nil, own)
		l.Record(ctx, nil, staff)
		if count() != 2 {
			t.Fatalf("%d views recorded; want the staff view only to be added", count())
		}
		var changes int
		db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE event_type = 'audit.settings.change'`).Scan(&changes)
		if changes != 2 { // the refused attempt and the change
			t.Fatalf("%d settings events", changes)
		}
		if rep, err := audit.Verify(ctx, db, l.Signer); err != nil || rep.Problem != nil {
			t.Fatalf("log after settings change: %v %v", err, rep.Problem)
		}
	})
}
