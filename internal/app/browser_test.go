package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"uroportal/internal/app"
	"uroportal/internal/clock"
	"uroportal/internal/config"
	"uroportal/internal/identity"
	"uroportal/internal/web"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// A demo patient signs in with a password and a TOTP code in a real
// browser, sees their lab results, and leaves the page alone: once the
// server's clock passes the idle timeout, the page's script clears the page
// and sends the browser to the sign-in page, and the old session cookie no
// longer opens anything.
func TestBrowserPatientSignsInAndIdleClearsPage(t *testing.T) {
	requireChromium(t)
	// Every step below runs under this deadline, so the test cannot hang.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	fake := clock.NewFake(time.Now())
	cfg := demoConfig(t, "")
	base, stop := startWithClock(t, ctx, cfg, fake)
	defer stop()
	pat := findLogin(t, cfg.DataDir, "patient")
	results := base + "/patients/" + pat.PatientID + "/results"

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.IgnoreCertErrors, // the server's self-signed loopback certificate
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(412, 915), // a phone
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	// Headless chromium keeps its window at least 500 px wide, so the
	// phone's viewport is emulated too.
	chromeDo(t, tab, "start chromium", chromedp.EmulateViewport(412, 915, chromedp.EmulateMobile, chromedp.EmulateTouch))

	// Screenshots for anyone reviewing: kept in UROPORTAL_SCREENSHOTS if
	// set, else in a temporary directory removed after the test.
	dir := os.Getenv("UROPORTAL_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
		t.Logf("set UROPORTAL_SCREENSHOTS=DIR to keep the screenshots")
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	screenshot := func(name string) {
		t.Helper()
		png := chromeRun(t, tab, "screenshot "+name, chromedp.FullScreenshot(100))
		path := filepath.Join(dir, "browser-"+name+".png")
		if err := os.WriteFile(path, png, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	bodyText := func(step string) string {
		t.Helper()
		return chromeRun(t, tab, step, chromedp.Evaluate[string](`document.body.innerText`))
	}

	// Sign in: email and password, then the authenticator app's code.
	chromeDo(t, tab, "open the sign-in page",
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	screenshot("1-signin")
	chromeDo(t, tab, "type email and password",
		chromedp.SendKeys(chromedp.ID("email"), pat.Email),
		chromedp.SendKeys(chromedp.ID("password"), pat.Password),
	)
	res := chromeResponse(t, tab, "submit the password", chromedp.Click(chromedp.CSS(`main form[action="/signin"] button[type="submit"]`)))
	if res.Status != 200 || res.URL != base+"/signin/verify" {
		t.Fatalf("after the password: %d %s, want 200 %s/signin/verify", res.Status, res.URL, base)
	}
	code, err := identity.TOTPCode(pat.TOTPSecret, fake.Now())
	if err != nil {
		t.Fatal(err)
	}
	chromeDo(t, tab, "type the TOTP code",
		chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), code),
	)
	res = chromeResponse(t, tab, "submit the TOTP code", chromedp.Click(chromedp.CSS(`main form[action="/signin/verify"] button[type="submit"]`)))
	if res.Status != 200 || res.URL != base+"/" {
		t.Fatalf("after the TOTP code: %d %s, want 200 %s/", res.Status, res.URL, base)
	}

	// The patient's own results, on a page that knows its idle timeout.
	res = chromeRun(t, tab, "open the results", chromedp.NavigateResponse(results))
	if res.Status != 200 {
		t.Fatalf("results page: %d", res.Status)
	}
	chromeDo(t, tab, "show the results table", chromedp.WaitVisible(chromedp.CSS(`table.cards tbody tr`)))
	if text := bodyText("read the results"); !strings.Contains(text, "Creatinine") {
		t.Fatalf("results page without Creatinine:\n%s", text)
	}
	idle := chromeRun(t, tab, "read data-idle-seconds", chromedp.Evaluate[string](`document.body.getAttribute("data-idle-seconds") || ""`))
	if want := fmt.Sprint(int(cfg.IdlePatient.Seconds())); idle != want {
		t.Fatalf("data-idle-seconds=%q, want %q", idle, want)
	}
	var values []string
	for _, v := range chromeRun(t, tab, "read the lab values", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('td[data-label="Result"]'), td => td.textContent.trim())`)) {
		if len(v) >= 4 { // long enough not to turn up on the sign-in page by chance
			values = append(values, v)
		}
	}
	if len(values) == 0 {
		t.Fatal("no lab values on the results page")
	}
	screenshot("2-results")
	old := sessionCookie(t, tab, base)
	if old == nil {
		t.Fatal("no session cookie after sign-in")
	}

	// Nearly idle: the page's sync hears a minute is left and warns.
	// (session.js syncs every 30 s and when the page becomes visible; the
	// visibilitychange event runs that sync now instead of in 30 s.)
	const sync = `document.dispatchEvent(new Event("visibilitychange"))`
	fake.Advance(cfg.IdlePatient - time.Minute)
	chromeDo(t, tab, "warn before the idle timeout",
		chromedp.Evaluate[chromedp.Void](sync),
		chromedp.WaitVisible(chromedp.ID("idle-warning")),
	)
	if text := bodyText("read the warning"); !strings.Contains(text, "Are you still there?") || !strings.Contains(text, "Creatinine") {
		t.Fatalf("the warning should sit above the results:\n%s", text)
	}
	screenshot("3-idle-warning")

	// Idle past the timeout: the server ends the session, the next sync
	// gets 401, and the script empties the page and goes to sign-in.
	fake.Advance(2 * time.Minute)
	res = chromeResponse(t, tab, "clear the page after the idle timeout", chromedp.Evaluate[chromedp.Void](sync))
	if res.Status != 200 || res.URL != base+"/signin?expired=1" {
		t.Fatalf("after the idle timeout: %d %s, want 200 %s/signin?expired=1", res.Status, res.URL, base)
	}
	chromeDo(t, tab, "show the expired notice", chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	if loc := chromeRun(t, tab, "read the location", chromedp.Location()); loc != base+"/signin?expired=1" {
		t.Fatalf("location %s", loc)
	}
	text := bodyText("read the sign-in page")
	if !strings.Contains(text, "signed out") {
		t.Fatalf("sign-in page does not say the patient was signed out:\n%s", text)
	}
	html := chromeRun(t, tab, "read the sign-in page's HTML", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	for _, v := range append(values, "Creatinine") {
		if strings.Contains(html, v) {
			t.Errorf("lab value %q still on the page after the idle timeout", v)
		}
	}
	screenshot("4-signed-out")
	if c := sessionCookie(t, tab, base); c != nil {
		t.Errorf("the browser still holds a session cookie after the idle timeout")
	}

	// The server ended the session: the old cookie, put back, opens nothing.
	if _, err := chromedp.Call(tab, network.SetCookie, network.SetCookieParams{
		Name: old.Name, Value: old.Value, URL: base + "/", Path: "/",
		Secure: new(true), HTTPOnly: new(true), SameSite: network.CookieSameSiteStrict,
	}); err != nil {
		t.Fatalf("put the old session cookie back: %v", err)
	}
	if c := sessionCookie(t, tab, base); c == nil || c.Value != old.Value {
		t.Fatal("the old session cookie was not put back: the check below would prove nothing")
	}
	res = chromeRun(t, tab, "open the results with the old cookie", chromedp.NavigateResponse(results))
	text = bodyText("read the page the old cookie gets")
	if res.Status != 401 || strings.Contains(text, "Creatinine") || !strings.Contains(text, "sign in") {
		t.Fatalf("results with the ended session's cookie: %d\n%s", res.Status, text)
	}
}

// requireChromium skips the test when chromium is missing, except in CI,
// where .ci/run installs it.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing in CI (.ci/run installs Debian's chromium): %v", chromiumPath, err)
		}
		t.Skipf("%s is missing: install Debian's chromium (apt-get install chromium) to run browser tests", chromiumPath)
	}
}

// startWithClock runs Serve with demo data and real sign-in on a fake clock,
// so sessions, idle timeouts and TOTP codes follow the test's clock.
func startWithClock(t *testing.T, _ context.Context, cfg config.Config, fake *clock.Fake) (string, func()) {
	t.Helper()
	b, stop := serveTest(t, cfg, app.ServeOptions{Options: app.Options{Clock: fake, Argon2: testOptions.Argon2}})
	return "https://" + b.Addr, stop
}

// chromeDo runs browser actions as one named step.
func chromeDo(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// chromeRun runs one browser action that returns a value.
func chromeRun[T any](t *testing.T, ctx context.Context, step string, action chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	return v
}

// chromeResponse runs actions that navigate, waits for the new page, and
// returns its response (after any redirects).
func chromeResponse(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	t.Helper()
	res, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if res == nil {
		t.Fatalf("%s: no response", step)
	}
	return res
}

// sessionCookie returns the browser's portal session cookie, or nil.
func sessionCookie(t *testing.T, ctx context.Context, base string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatalf("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == web.SessionCookie {
			return c
		}
	}
	return nil
}
