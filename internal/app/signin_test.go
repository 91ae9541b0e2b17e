package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"uroportal/internal/app"
	"uroportal/internal/audit"
	"uroportal/internal/clock"
	"uroportal/internal/config"
	"uroportal/internal/demo"
	"uroportal/internal/identity"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
	"uroportal/internal/web"
)

// startReal runs Serve with real sign-in (no stand-in authenticator).
func startReal(t *testing.T, cfg config.Config) (string, func()) {
	t.Helper()
	b, stop := serveTest(t, cfg, app.ServeOptions{Options: testOptions})
	return "https://" + b.Addr, stop
}

func findLogin(t *testing.T, dir, role string) demo.Login {
	t.Helper()
	ls, err := demo.ReadLogins(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Role == role {
			return l
		}
	}
	t.Fatalf("no demo login for %s", role)
	return demo.Login{}
}

func apiCall(t *testing.T, method, url, token string, body any) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return res.StatusCode, m, string(raw)
}

func totpNow(t *testing.T, secret string) string {
	t.Helper()
	c, err := identity.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiSignIn signs a demo login in through /api/v1 with its TOTP secret.
func apiSignIn(t *testing.T, base string, l demo.Login) string {
	t.Helper()
	st, m, raw := apiCall(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": l.Email, "password": l.Password})
	if st != 200 || m["mfa_required"] != true {
		t.Fatalf("login %s: %d %s", l.Role, st, raw)
	}
	st, m, raw = apiCall(t, "POST", base+"/api/v1/auth/mfa", "", map[string]string{"mfa_token": m["mfa_token"].(string), "code": totpNow(t, l.TOTPSecret)})
	if st != 200 || m["token"] == nil || m["expires_at"] == nil {
		t.Fatalf("mfa %s: %d %s", l.Role, st, raw)
	}
	return m["token"].(string)
}

func TestAPISignInEveryDemoRole(t *testing.T) {
	cfg := demoConfig(t, "")
	base, stop := startReal(t, cfg)
	defer stop()
	logins, _ := demo.ReadLogins(cfg.DataDir)
	for _, l := range logins {
		tok := apiSignIn(t, base, l)
		st, me, raw := apiCall(t, "GET", base+"/api/v1/me", tok, nil)
		if st != 200 || me["role"] != l.Role || me["id"] == "" {
			t.Fatalf("me as %s: %d %s", l.Role, st, raw)
		}
		switch l.Role {
		case "patient":
			if me["patient_id"] != l.PatientID {
				t.Fatalf("patient_id %v", me["patient_id"])
			}
			st, labs, raw := apiCall(t, "GET", base+"/api/v1/patients/"+l.PatientID+"/labs?code=2160-0", tok, nil)
			if st != 200 || len(labs["results"].([]any)) == 0 {
				t.Fatalf("own labs: %d %s", st, raw)
			}
		case "proxy":
			if af := me["acting_for"].([]any); len(af) != 1 || af[0] != l.PatientID {
				t.Fatalf("acting_for %v", me["acting_for"])
			}
		case "billing":
			if st, _, _ := apiCall(t, "GET", base+"/api/v1/patients/"+findLogin(t, cfg.DataDir, "patient").PatientID+"/labs", tok, nil); st != 404 {
				t.Fatalf("billing read labs: %d", st)
			}
		}
		if st, _, _ := apiCall(t, "POST", base+"/api/v1/auth/logout", tok, nil); st != 204 {
			t.Fatalf("logout %d", st)
		}
		if st, _, _ := apiCall(t, "GET", base+"/api/v1/me", tok, nil); st != 401 {
			t.Fatalf("me after logout: %d", st)
		}
	}
}

func TestAPIFailuresLookAlike(t *testing.T) {
	cfg := demoConfig(t, "")
	base, stop := startReal(t, cfg)
	defer stop()
	nurse := findLogin(t, cfg.DataDir, "nurse")
	body := func(email, pw string) (int, string) {
		st, _, raw := apiCall(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": email, "password": pw})
		return st, raw
	}
	us, ub := body("nobody@example.org", "some long wrong password")
	ws, wb := body(nurse.Email, "some long wrong password")
	for range 4 {
		body(nurse.Email, "some long wrong password")
	}
	ls, lb := body(nurse.Email, nurse.Password) // locked now
	if us != 401 || ws != 401 || ls != 401 || ub != wb || wb != lb {
		t.Fatalf("unknown %d %s / wrong %d %s / locked %d %s", us, ub, ws, wb, ls, lb)
	}
	if !strings.Contains(ub, `"error":"invalid_credentials"`) {
		t.Fatalf("body %s", ub)
	}
	// Not JSON: a clear error.
	req, _ := http.NewRequest("POST", base+"/api/v1/auth/login", strings.NewReader("email=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 415 {
		t.Fatalf("form body to the JSON API: %d", res.StatusCode)
	}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// browser is a cookie-keeping client that follows redirects.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
	// clk, when set, is the server's fake clock: TOTP codes come from it,
	// and it moves to the next 30-second step after each, since a code
	// works only once.
	clk *clock.Fake
}

func (b *browser) totp(secret string) string {
	if b.clk == nil {
		return totpNow(b.t, secret)
	}
	c, err := identity.TOTPCode(secret, b.clk.Now())
	if err != nil {
		b.t.Fatal(err)
	}
	b.clk.Advance(30 * time.Second)
	return c
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Transport: insecure.Transport, Timeout: 30 * time.Second}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	res, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// post submits a form found on page from with its CSRF token.
func (b *browser) post(from, path string, form url.Values) (int, string, string) {
	b.t.Helper()
	_, page := b.get(from)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", from)
	}
	form.Set("csrf_token", m[1])
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Request.URL.Path, string(raw)
}

func TestBrowserSignInWithTOTP(t *testing.T) {
	cfg := demoConfig(t, "")
	base, stop := startReal(t, cfg)
	defer stop()
	pat := findLogin(t, cfg.DataDir, "patient")
	b := newBrowser(t, base)
	if st, _ := b.get("/patients/" + pat.PatientID + "/results"); st != 401 {
		t.Fatalf("results before sign-in: %d", st)
	}
	st, where, page := b.post("/signin", "/signin", url.Values{"email": {pat.Email}, "password": {"not the password at all"}})
	if st != 401 || where != "/signin" || !strings.Contains(page, pat.Email) {
		t.Fatalf("wrong password: %d %s", st, where)
	}
	st, where, _ = b.post("/signin", "/signin", url.Values{"email": {pat.Email}, "password": {pat.Password}})
	if st != 200 || where != "/signin/verify" {
		t.Fatalf("password: %d %s", st, where)
	}
	if st, _ := b.get("/patients/" + pat.PatientID + "/results"); st == 200 {
		t.Fatal("results shown before the second factor")
	}
	st, where, _ = b.post("/signin/verify", "/signin/verify", url.Values{"method": {"totp"}, "code": {totpNow(t, pat.TOTPSecret)}})
	if st != 200 || where != "/" {
		t.Fatalf("TOTP: %d %s", st, where)
	}
	st, page = b.get("/patients/" + pat.PatientID + "/results")
	if st != 200 || !strings.Contains(page, "Creatinine") || !strings.Contains(page, "data-idle-seconds=\"1800\"") {
		t.Fatalf("results after sign-in: %d", st)
	}
	st, page = b.get("/account")
	if st != 200 || !strings.Contains(page, "this device") {
		t.Fatalf("account: %d", st)
	}
	// A POST without the form token is refused.
	req, _ := http.NewRequest("POST", base+"/signout", nil)
	res, _ := b.c.Do(req)
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Fatalf("sign-out without CSRF token: %d", res.StatusCode)
	}
	st, where, _ = b.post("/account", "/signout", url.Values{})
	if st != 200 || where != "/signin" {
		t.Fatalf("sign-out: %d %s", st, where)
	}
	if st, _ := b.get("/patients/" + pat.PatientID + "/results"); st != 401 {
		t.Fatalf("results after sign-out: %d", st)
	}
}

// Two server processes on one PostgreSQL database share lockout counters
// and sessions.
func TestTwoNodesShareSignInState(t *testing.T) {
	url := storetest.PostgresURL(t)
	cfg := demoConfig(t, url)
	baseA, stopA := startReal(t, cfg)
	defer stopA()
	cfgB := cfg
	cfgB.DataDir = t.TempDir()
	// Node B shares the database and the key-encryption key, not the
	// directory.
	kek, _ := readKEK(t, cfg.DataDir)
	cfgB.KEK = kek
	cfgB.AuditKeyFile = filepath.Join(cfg.DataDir, audit.KeyFileName)
	baseB, stopB := startReal(t, cfgB)
	defer stopB()

	nurse := findLogin(t, cfg.DataDir, "nurse")
	tok := apiSignIn(t, baseA, nurse)
	if st, _, _ := apiCall(t, "GET", baseB+"/api/v1/me", tok, nil); st != 200 {
		t.Fatalf("node B does not know node A's session: %d", st)
	}
	if st, _, _ := apiCall(t, "POST", baseB+"/api/v1/auth/logout", tok, nil); st != 204 {
		t.Fatalf("logout on B: %d", st)
	}
	if st, _, _ := apiCall(t, "GET", baseA+"/api/v1/me", tok, nil); st != 401 {
		t.Fatalf("node A still honours a session ended on B: %d", st)
	}
	pat := findLogin(t, cfg.DataDir, "patient")
	for i := range 5 {
		base := baseA
		if i%2 == 1 {
			base = baseB
		}
		apiCall(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": pat.Email, "password": "wrong wrong wrong wrong"})
	}
	for _, base := range []string{baseA, baseB} {
		if st, _, _ := apiCall(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": pat.Email, "password": pat.Password}); st != 401 {
			t.Fatalf("after 5 failures spread over two nodes, %s let the right password in: %d", base, st)
		}
	}
	_ = store.Postgres
}

// An API token does not work as a browser cookie (and the reverse): each
// kind of session is only good where it was issued.
func TestTokenKindsDoNotMix(t *testing.T) {
	cfg := demoConfig(t, "")
	base, stop := startReal(t, cfg)
	defer stop()
	pat := findLogin(t, cfg.DataDir, "patient")
	tok := apiSignIn(t, base, pat)
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: tok})
	res, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("an API token used as a cookie: %d", res.StatusCode)
	}
}
