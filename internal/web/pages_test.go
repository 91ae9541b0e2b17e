package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"uroportal/internal/audit"
	"uroportal/internal/identity"
	"uroportal/internal/identity/passkey"
	"uroportal/internal/session"

	"github.com/prometheus/client_golang/prometheus"

	"uroportal/internal/logs"
)

func discardLogger() *slog.Logger       { return logs.New(io.Discard, slog.LevelInfo) }
func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// pageSamples holds sample data for every page in pageList, and what each
// rendered page must say.
var pageSamples = map[string]struct {
	title string
	data  any
	check func(t *testing.T, doc *node)
}{
	"home": {"Welcome", homePage{}, func(t *testing.T, doc *node) {
		main := doc.one(t, "main")
		if h1 := main.one(t, "h1").textContent(); h1 != "Welcome to the patient portal" {
			t.Errorf("h1 = %q", h1)
		}
		if !strings.Contains(main.textContent(), "Riverside Urology") {
			t.Error("home page does not name the practice")
		}
	}},
	"labs": {"Lab results", labsPage{PatientID: "p1", Results: []labRow{
		{Name: "PSA, total", Value: "4.72", Unit: "ng/mL", ReferenceRange: "0.00–4.00", Flag: "H", FlagText: "High", Status: "final",
			Collected: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC), OrderingClinician: "Dr. Demo"},
		{Name: "Creatinine, serum", Value: "0.91", Unit: "mg/dL", ReferenceRange: "0.74–1.35", Status: "final",
			Collected: time.Date(2026, 10, 2, 8, 0, 0, 0, time.UTC), OrderingClinician: "Dr. Demo"},
	}}, func(t *testing.T, doc *node) {
		table := doc.one(t, "table")
		rows := table.all("tr")
		if len(rows) != 3 {
			t.Fatalf("%d table rows, want a header and 2 results", len(rows))
		}
		text := rows[1].textContent()
		for _, w := range []string{"PSA, total", "Nov 2, 2026", "4.72 ng/mL", "High", "0.00–4.00", "final"} {
			if !strings.Contains(text, w) {
				t.Errorf("PSA row lacks %q: %s", w, text)
			}
		}
		if len(table.all("th", "scope", "col")) != 6 {
			t.Error("result table columns lack header cells")
		}
	}},
	"signin": {"Sign in", signinPage{Email: "pat@example.org", Error: "The email or password is not right."}, func(t *testing.T, doc *node) {
		formOK(t, doc, "/signin", "email", "password")
		if v := doc.one(t, "input", "name", "email").attrs["value"]; v != "pat@example.org" {
			t.Errorf("the typed email is not kept: %q", v)
		}
		if !strings.Contains(doc.one(t, "main").textContent(), "not right") {
			t.Error("no error shown")
		}
	}},
	"verify": {"Confirm it's you", verifyPage{Methods: []string{"totp", "recovery"}, Method: "totp", HasTOTP: true, HasCodes: true}, func(t *testing.T, doc *node) {
		formOK(t, doc, "/signin/verify", "code")
		if len(doc.all("a", "href", "/signin/verify?method=recovery")) != 1 {
			t.Error("no way to use a recovery code")
		}
	}},
	"mfa": {"Set up your authenticator app", mfaPage{Required: true, Enrollment: identity.TOTPEnrollment{Secret: "JBSWY3DPEHPK3PXP", QRPNG: "data:image/png;base64,AAAA"}}, func(t *testing.T, doc *node) {
		formOK(t, doc, "/account/mfa", "code")
		if img := doc.one(t, "img"); img.attrs["alt"] == "" || !strings.HasPrefix(img.attrs["src"], "data:image/png") {
			t.Errorf("QR image %v", img.attrs)
		}
		if !strings.Contains(doc.one(t, "main").textContent(), "JBSWY3DPEHPK3PXP") {
			t.Error("the key to type by hand is missing")
		}
	}},
	"codes": {"Save your recovery codes", codesPage{Codes: []string{"K7Q2M-9XR4T", "ABCDE-FGHJK"}}, func(t *testing.T, doc *node) {
		if n := len(doc.one(t, "main").all("code")); n != 2 {
			t.Errorf("%d codes shown", n)
		}
	}},
	"account": {"Your account and security", accountPage{Name: "Pat", Email: "pat@example.org", CurrentID: "s1", Security: identity.Security{TOTP: true, RecoveryLeft: 7,
		Sessions: []session.Session{{ID: "s1", UserAgent: "Firefox", SourceIP: "192.0.2.1"}, {ID: "s2", UserAgent: "Safari", SourceIP: "192.0.2.2"}}}}, func(t *testing.T, doc *node) {
		if len(doc.all("form", "action", "/account/sessions/s2/end")) != 1 || len(doc.all("form", "action", "/account/sessions/s1/end")) != 0 {
			t.Error("each other session needs one sign-out button, this one none")
		}
		if !strings.Contains(doc.one(t, "main").textContent(), "7 left") {
			t.Error("recovery codes left not shown")
		}
	}},
	"password": {"Change your password", passwordPage{}, func(t *testing.T, doc *node) {
		formOK(t, doc, "/account/password", "current", "new", "confirm")
	}},
	"confirm": {"Confirm it's you", confirmPage{Next: "/account/mfa", MFA: true}, func(t *testing.T, doc *node) {
		formOK(t, doc, "/account/confirm", "password", "code")
	}},
	"forgot": {"Reset your password", forgotPage{}, func(t *testing.T, doc *node) {
		formOK(t, doc, "/password/forgot", "email")
	}},
	"reset": {"Choose a new password", resetPage{Token: "tok"}, func(t *testing.T, doc *node) {
		formOK(t, doc, "/password/reset/tok", "new", "confirm")
	}},
	"issue": {"Give a patient an activation code", issuePage{Issued: true, Patient: "Arlo Sampleton", Code: "ABCD-EFGH-JKMN", Expires: time.Date(2026, 12, 17, 0, 0, 0, 0, time.UTC), URL: "https://portal.example/activate"},
		func(t *testing.T, doc *node) {
			text := doc.one(t, "main").textContent()
			for _, w := range []string{"Arlo Sampleton", "ABCD-EFGH-JKMN", "December 17, 2026", "https://portal.example/activate"} {
				if !strings.Contains(text, w) {
					t.Errorf("letter lacks %q", w)
				}
			}
		}},
	"activate": {"Set up your portal account", activatePage{Code: "ABCD", Error: "did not match"}, func(t *testing.T, doc *node) {
		formOK(t, doc, "/activate", "code", "birth_date", "family_name", "email", "password", "confirm")
		if doc.one(t, "input", "name", "code").attrs["value"] != "ABCD" {
			t.Error("typed code not kept")
		}
	}},
	"passkeys": {"Passkeys", passkeysPage{Passkeys: []passkey.Info{{ID: "pk1", Name: "Work laptop", CreatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}}}, func(t *testing.T, doc *node) {
		if len(doc.all("form", "action", "/account/passkeys/pk1/remove")) != 1 || !strings.Contains(doc.one(t, "main").textContent(), "Work laptop") {
			t.Error("passkey list")
		}
		if doc.one(t, "label", "for", "passkey-name") == nil {
			t.Error("name field unlabelled")
		}
	}},
	"email": {"Change your email address", emailPage{Email: "pat@example.org"}, func(t *testing.T, doc *node) {
		formOK(t, doc, "/account/email", "email")
	}},
	"history": {"Who has looked at your record", historyPage{PatientID: "p1", Entries: []historyRow{
		{At: time.Date(2026, 12, 1, 14, 5, 0, 0, time.UTC), Who: "Dr. Demo Urologist", Role: "Doctor", What: "Looked at lab results"},
		{At: time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC), Who: "Nina Nurse", Role: "Nurse or medical assistant", What: "Looked at lab results", BreakGlass: true},
	}}, func(t *testing.T, doc *node) {
		rows := doc.one(t, "table").all("tr")
		if len(rows) != 3 || !strings.Contains(rows[1].textContent(), "Dr. Demo Urologist") || !strings.Contains(rows[1].textContent(), "Dec 1, 2026 2:05 PM") {
			t.Fatalf("history rows: %d", len(rows))
		}
		if !strings.Contains(rows[2].textContent(), "Emergency access") {
			t.Error("break-glass access is not marked")
		}
	}},
	"audit": {"Audit log", auditPage{Form: url.Values{"type": {"auth.signin"}}, Sort: "time", Desc: true, Sorts: []string{"time", "type"}, CSV: "/security/audit/export/csv?type=auth.signin", JSON: "/security/audit/export/json?type=auth.signin",
		Rows: []audit.Stored{{Seq: 7, At: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), Type: "auth.signin", Outcome: "failure", ActorID: "u1", ActorRole: "nurse", Reason: "bad_password"}},
		Next: "/security/audit?after=7"}, func(t *testing.T, doc *node) {
		if doc.one(t, "input", "name", "type").attrs["value"] != "auth.signin" {
			t.Error("the filter is not kept")
		}
		if !strings.Contains(doc.one(t, "table").textContent(), "bad_password") || len(doc.all("a", "href", "/security/audit/export/csv?type=auth.signin")) != 1 {
			t.Error("report row or export link missing")
		}
	}},
	"alerts": {"Security alerts", alertsPage{Alerts: []audit.Alert{{Rule: "break_glass", Detail: "emergency (break-glass) access to a record", ActorID: "u1", PatientID: "p1", Seq: 42,
		At: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}}}, func(t *testing.T, doc *node) {
		if !strings.Contains(doc.one(t, "table").textContent(), "break-glass") {
			t.Error("alert not listed")
		}
	}},
	"settings": {"What the audit log records", settingsPage{Settings: []audit.Setting{{Name: "record_own_views", Label: "Record own views", On: true}}}, func(t *testing.T, doc *node) {
		if len(doc.all("form", "action", "/security/settings")) != 1 || doc.one(t, "select").attrs["name"] != "value" {
			t.Error("settings form")
		}
	}},
	"error": {"Page not found", errorView{Status: 404, Code: "not_found", Title: "Page not found",
		Message: "We could not find that page.", RequestID: "0123456789abcdef0123456789abcdef"},
		func(t *testing.T, doc *node) {
			main := doc.one(t, "main")
			if h1 := main.one(t, "h1").textContent(); h1 != "Page not found" {
				t.Errorf("h1 = %q", h1)
			}
			text := main.textContent()
			for _, w := range []string{"We could not find that page.", "0123456789abcdef0123456789abcdef"} {
				if !strings.Contains(text, w) {
					t.Errorf("error page lacks %q: %s", w, text)
				}
			}
			if len(main.all("a", "href", "/")) == 0 {
				t.Error("error page has no way home")
			}
		}},
}

// formOK checks a form posts to action with a CSRF token and a labelled
// input for each named field.
func formOK(t *testing.T, doc *node, action string, fields ...string) {
	t.Helper()
	var form *node
	for _, f := range doc.all("form", "action", action) {
		if f.attrs["method"] == "post" {
			form = f
		}
	}
	if form == nil {
		t.Fatalf("no POST form to %s", action)
	}
	if len(form.all("input", "name", "csrf_token")) != 1 {
		t.Errorf("form %s has no CSRF token", action)
	}
	for _, name := range fields {
		in := form.one(t, "input", "name", name)
		if id := in.attrs["id"]; id == "" || len(doc.all("label", "for", id)) != 1 {
			t.Errorf("field %s has no label", name)
		}
	}
}

var hashedJS = regexp.MustCompile(`^/static/[a-z]+\.[0-9a-f]{16}\.js$`)

var hashedCSS = regexp.MustCompile(`^/static/app\.[0-9a-f]{16}\.css$`)

func TestEveryPageRenders(t *testing.T) {
	assets, err := newStaticAssets()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPages("Riverside Urology", assets)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range pageList {
		t.Run(d.Name, func(t *testing.T) {
			sample, ok := pageSamples[d.Name]
			if !ok {
				t.Fatalf("page %q has no sample data in pageSamples", d.Name)
			}
			w := httptest.NewRecorder()
			if err := p.render(w, httptest.NewRequest("GET", "/", nil), 200, d.Name, sample.title, sample.data); err != nil {
				t.Fatal(err)
			}
			body := w.Body.String()
			doc := parseHTML(t, body)
			checkLayout(t, doc, sample.title)
			sample.check(t, doc)
		})
	}
}

// checkLayout checks what every page shares: language, title, viewport,
// stylesheet, skip link, landmarks, one h1, and no inline script or style.
func checkLayout(t *testing.T, doc *node, title string) {
	t.Helper()
	if html := doc.one(t, "html"); html.attrs["lang"] != "en" {
		t.Errorf("html lang = %q", html.attrs["lang"])
	}
	if got := doc.one(t, "title").textContent(); !strings.HasPrefix(got, title) || !strings.Contains(got, "Riverside Urology") {
		t.Errorf("title = %q", got)
	}
	if vp := doc.one(t, "meta", "name", "viewport"); !strings.Contains(vp.attrs["content"], "width=device-width") {
		t.Errorf("viewport = %q", vp.attrs["content"])
	}
	if css := doc.one(t, "link", "rel", "stylesheet"); !hashedCSS.MatchString(css.attrs["href"]) {
		t.Errorf("stylesheet href %q is not a hashed static URL", css.attrs["href"])
	}
	body := doc.one(t, "body")
	if len(body.children) == 0 {
		t.Fatal("empty body")
	}
	first := body.all("a")[0]
	if first.attrs["href"] != "#main" || !strings.Contains(strings.ToLower(first.textContent()), "skip") {
		t.Errorf("first link is not a skip link: %v %q", first.attrs, first.textContent())
	}
	doc.one(t, "main", "id", "main")
	doc.one(t, "header")
	doc.one(t, "footer")
	if nav := doc.one(t, "nav"); nav.attrs["aria-label"] == "" {
		t.Error("nav has no aria-label")
	}
	if n := len(doc.all("h1")); n != 1 {
		t.Errorf("%d h1 elements, want 1", n)
	}
	if n := len(doc.all("style")); n != 0 {
		t.Errorf("page has %d style elements; the CSP forbids inline ones", n)
	}
	for _, sc := range doc.all("script") {
		if !hashedJS.MatchString(sc.attrs["src"]) || strings.TrimSpace(sc.textContent()) != "" {
			t.Errorf("script %v is inline or not a hashed static file; the CSP forbids it", sc.attrs)
		}
	}
	var walk func(*node)
	walk = func(n *node) {
		for k := range n.attrs {
			if k == "style" || strings.HasPrefix(k, "on") {
				t.Errorf("<%s> has inline %s attribute", n.tag, k)
			}
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(doc)
	for _, in := range doc.all("input") {
		if in.attrs["type"] != "hidden" && in.attrs["id"] == "" {
			t.Errorf("input %v has no id for a label", in.attrs)
		}
	}
}

func TestStaticAssets(t *testing.T) {
	e := startEnv(t, envConfig{})
	css := staticURL(t, e, "app.css")
	if !hashedCSS.MatchString(css) {
		t.Fatalf("URL %q", css)
	}
	res, body := e.get(t, css)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(body, ".skip-link") {
		t.Fatalf("GET %s: %d %q", css, res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, bad := range []string{"/static/app.css", "/static/app.0000000000000000.css", "/static/..%2ftemplates%2flayout.html"} {
		if res, _ := e.get(t, bad); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", bad, res.StatusCode)
		}
	}
	if _, err := e.srv.static.URL("missing.css"); err == nil {
		t.Error("URL of a missing file did not fail")
	}
}

// The home page as served: the whole stack, not just the template.
func TestHomePageServed(t *testing.T) {
	e := startEnv(t, envConfig{})
	res, body := e.get(t, "/")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	doc := parseHTML(t, body)
	checkLayout(t, doc, "Welcome")
	pageSamples["home"].check(t, doc)
	// The stylesheet the page links to is served.
	href := doc.one(t, "link", "rel", "stylesheet").attrs["href"]
	if res, _ := e.get(t, href); res.StatusCode != 200 {
		t.Errorf("GET %s = %d", href, res.StatusCode)
	}
}
