package app_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"uroportal/internal/app"
	"uroportal/internal/clock"
	"uroportal/internal/mail/mailtest"
)

var resetLink = regexp.MustCompile(`https://localhost:0(/password/reset/[A-Za-z0-9_-]+)`)

// A locked-out staff member gets back in through the emailed reset link,
// still with their second factor; a first sign-in from a new browser emails
// a "new sign-in" notice. Mail goes through an SMTP server on loopback.
func TestResetByEmailAndNewDeviceNotice(t *testing.T) {
	smtp := mailtest.Start(t)
	cfg := demoConfig(t, "")
	cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPFrom = smtp.Host(), smtp.Port(), "Uroportal Demo <portal@example.org>"
	opts := testOptions
	opts.MailTLS = smtp.ClientTLS()
	clk := clock.NewFake(time.Now())
	opts.Clock = clk
	bound, stop := serveTest(t, cfg, app.ServeOptions{Options: opts})
	defer stop()
	base := "https://" + bound.Addr

	nurse := findLogin(t, cfg.DataDir, "nurse")
	b := newBrowser(t, base)
	b.clk = clk
	signInAgain(t, b, nurse)
	msgs, err := smtp.WaitFor(1, 30*time.Second)
	if err != nil {
		t.Fatalf("no new-sign-in email: %v", err)
	}
	if m := msgs[0]; !m.TLS || !strings.Contains(m.Header("To"), nurse.Email) || !strings.Contains(strings.ToLower(m.Header("Subject")), "sign-in") {
		t.Fatalf("new-sign-in email: TLS %v To %q Subject %q", m.TLS, m.Header("To"), m.Header("Subject"))
	}
	// The same browser again: no second notice.
	b.post("/account", "/signout", url.Values{})
	signInAgain(t, b, nurse)

	// Lock the account, then recover it by email.
	for range 5 {
		apiCall(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": nurse.Email, "password": "wrong wrong wrong wrong"})
	}
	other := newBrowser(t, base)
	if st, _, _ := other.post("/signin", "/signin", url.Values{"email": {nurse.Email}, "password": {nurse.Password}}); st != 401 {
		t.Fatalf("locked account signed in: %d", st)
	}
	if st, _, page := other.post("/password/forgot", "/password/forgot", url.Values{"email": {nurse.Email}}); st != 200 || !strings.Contains(page, "If there is an account") {
		t.Fatalf("forgot: %d", st)
	}
	msgs, err = smtp.WaitFor(2, 30*time.Second)
	if err != nil {
		t.Fatalf("no reset email: %v (got %d)", err, len(smtp.Messages()))
	}
	text := msgs[1].Text()
	m := resetLink.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no reset link in: %s", text)
	}
	for _, phi := range []string{"Creatinine", "PSA", "DEMO-"} {
		if strings.Contains(text, phi) {
			t.Fatalf("email carries %q", phi)
		}
	}
	const next = "harvest lilac engine pebble"
	if st, where, _ := other.post(m[1], m[1], url.Values{"new": {next}, "confirm": {next}}); st != 200 || where != "/signin" {
		t.Fatalf("reset: %d %s", st, where)
	}
	nurse.Password = next
	// Signed in with the new password, the authenticator app is still asked for.
	st, where, _ := other.post("/signin", "/signin", url.Values{"email": {nurse.Email}, "password": {next}})
	if st != 200 || where != "/signin/verify" {
		t.Fatalf("after reset: %d %s", st, where)
	}
	if n := len(smtp.Messages()); n != 2 {
		t.Fatalf("%d emails; the remembered browser got another new-sign-in notice", n)
	}
}
