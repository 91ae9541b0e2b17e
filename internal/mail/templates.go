package mail

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind names a message template. The set is closed: only the types in this
// file render email, and their fields take only values that are not PHI.
type Kind string

// The kinds of email Uroportal sends.
const (
	KindNewSignIn     Kind = "new_sign_in"
	KindPasswordReset Kind = "password_reset"
	KindProxyInvite   Kind = "proxy_invite"
	KindNewMessage    Kind = "new_message"
	KindResultReady   Kind = "result_ready"
	KindSecurityAlert Kind = "security_alert"
)

// Kinds lists every Kind.
var Kinds = []Kind{KindNewSignIn, KindPasswordReset, KindProxyInvite, KindNewMessage, KindResultReady, KindSecurityAlert}

// Renderable is a message template with its values. Only this package's
// template types implement it, so no caller can write free text into an
// email.
type Renderable interface {
	Kind() Kind
	// Render checks the values and returns the subject and the plain-text
	// body.
	Render() (subject, body string, err error)
	sealed()
}

// NewSignIn tells an account holder that their account was signed in to from
// a device not seen before.
type NewSignIn struct {
	PracticeName string
	// When the sign-in happened, shown in its own location; pass
	// When.In(practiceLocation).
	When time.Time
	// DeviceHint is a coarse description such as "Chrome on Windows";
	// letters, digits, spaces and .,()/+:_- only, at most 80 characters.
	// Empty shows "an unrecognized device".
	DeviceHint string
	// PortalURL is where to sign in (https).
	PortalURL string
}

// PasswordReset carries a one-time link to choose a new password.
type PasswordReset struct {
	PracticeName string
	Link         string // https, with its one-time token
	ExpiresIn    time.Duration
}

// ProxyInvite invites someone to act for a patient (a parent, a caregiver).
// It does not name the patient: the invitee learns who after signing in.
type ProxyInvite struct {
	PracticeName string
	Link         string // https, with its one-time token
	ExpiresIn    time.Duration
}

// NewMessage says a secure message is waiting in the portal.
type NewMessage struct {
	PracticeName string
	PortalURL    string
}

// ResultReady says something new is available in the portal, without saying
// what.
type ResultReady struct {
	PracticeName string
	PortalURL    string
}

func (NewSignIn) Kind() Kind     { return KindNewSignIn }
func (SecurityAlert) Kind() Kind { return KindSecurityAlert }
func (SecurityAlert) sealed()    {}
func (PasswordReset) Kind() Kind { return KindPasswordReset }
func (ProxyInvite) Kind() Kind   { return KindProxyInvite }
func (NewMessage) Kind() Kind    { return KindNewMessage }
func (ResultReady) Kind() Kind   { return KindResultReady }

func (NewSignIn) sealed()     {}
func (PasswordReset) sealed() {}
func (ProxyInvite) sealed()   {}
func (NewMessage) sealed()    {}
func (ResultReady) sealed()   {}

const footer = `
For your privacy, we never put health information in email. Sign in to the
portal to see your records and messages.

This message was sent automatically; replies are not read. If you have a
question, call the practice.
`

var templates = map[Kind]struct {
	subject string
	body    *template.Template
}{
	KindNewSignIn: {"New sign-in to your patient portal account", template.Must(template.New("").Parse(`Hello,

Your {{.Practice}} patient portal account was just signed in to from a
device we have not seen before.

    When:   {{.When}}
    Device: {{.Device}}

If this was you, there is nothing to do.

If it was not you, sign in now at the link below and change your password,
then call the practice:

{{.URL}}
` + footer))},
	KindPasswordReset: {"Reset your patient portal password", template.Must(template.New("").Parse(`Hello,

Someone asked to reset the password of your {{.Practice}} patient portal
account. To choose a new password, open this link within {{.Expires}}:

{{.URL}}

If you did not ask for this, ignore this email; your password stays as it is.
` + footer))},
	KindProxyInvite: {"You are invited to the patient portal", template.Must(template.New("").Parse(`Hello,

You have been invited to help manage care in the {{.Practice}} patient
portal. To accept, open this link within {{.Expires}} and sign in or create
your account; you will see the details there:

{{.URL}}

If you were not expecting this, ignore this email.
` + footer))},
	KindNewMessage: {"You have a new message", template.Must(template.New("").Parse(`Hello,

You have a new message in the {{.Practice}} patient portal. Sign in to see it:

{{.URL}}
` + footer))},
	KindSecurityAlert: {"Security alert in the patient portal", template.Must(template.New("").Parse(`Hello,

The {{.Practice}} patient portal raised a security alert. Sign in and open
Security alerts to review it:

{{.URL}}
` + footer))},
	KindResultReady: {"New information in your patient portal", template.Must(template.New("").Parse(`Hello,

There is new information for you in the {{.Practice}} patient portal.
Sign in to see it:

{{.URL}}
` + footer))},
}

// SecurityAlert tells the security officer an alert is waiting, without
// saying what or about whom.
type SecurityAlert struct {
	PracticeName string
	PortalURL    string
}

// Render returns the subject and body of the notice.
func (m SecurityAlert) Render() (subject, body string, err error) {
	return renderNotice(KindSecurityAlert, m.PracticeName, m.PortalURL)
}

// vars are the only values a template sees.
type vars struct {
	Practice, When, Device, URL, Expires string
}

func render(k Kind, v vars) (subject, body string, err error) {
	t := templates[k]
	var b strings.Builder
	if err := t.body.Execute(&b, v); err != nil {
		return "", "", fmt.Errorf("mail: render %s: %w", k, err)
	}
	return t.subject, b.String(), nil
}

// Render returns the subject and body of the notice.
func (m NewSignIn) Render() (subject, body string, err error) {
	if err := checkPractice(m.PracticeName); err != nil {
		return "", "", err
	}
	if m.When.IsZero() {
		return "", "", errors.New("mail: new sign-in notice without a time")
	}
	device := "an unrecognized device"
	if m.DeviceHint != "" {
		if err := checkDeviceHint(m.DeviceHint); err != nil {
			return "", "", err
		}
		device = m.DeviceHint
	}
	if err := checkURL(m.PortalURL); err != nil {
		return "", "", err
	}
	return render(m.Kind(), vars{
		Practice: m.PracticeName,
		When:     m.When.Format("Monday, January 2, 2006 at 3:04 PM MST"),
		Device:   device,
		URL:      m.PortalURL,
	})
}

// Render returns the subject and body of the reset email.
func (m PasswordReset) Render() (subject, body string, err error) {
	return renderLink(m.Kind(), m.PracticeName, m.Link, m.ExpiresIn)
}

// Render returns the subject and body of the invitation.
func (m ProxyInvite) Render() (subject, body string, err error) {
	return renderLink(m.Kind(), m.PracticeName, m.Link, m.ExpiresIn)
}

// Render returns the subject and body of the notice.
func (m NewMessage) Render() (subject, body string, err error) {
	return renderNotice(m.Kind(), m.PracticeName, m.PortalURL)
}

// Render returns the subject and body of the notice.
func (m ResultReady) Render() (subject, body string, err error) {
	return renderNotice(m.Kind(), m.PracticeName, m.PortalURL)
}

func renderLink(k Kind, practice, link string, expires time.Duration) (string, string, error) {
	if err := checkPractice(practice); err != nil {
		return "", "", err
	}
	if err := checkURL(link); err != nil {
		return "", "", err
	}
	if expires < time.Minute {
		return "", "", fmt.Errorf("mail: %s link must be valid for at least a minute", k)
	}
	return render(k, vars{Practice: practice, URL: link, Expires: humanDuration(expires)})
}

func renderNotice(k Kind, practice, portal string) (string, string, error) {
	if err := checkPractice(practice); err != nil {
		return "", "", err
	}
	if err := checkURL(portal); err != nil {
		return "", "", err
	}
	return render(k, vars{Practice: practice, URL: portal})
}

func checkPractice(s string) error {
	if s == "" {
		return errors.New("mail: the practice name is not set")
	}
	if utf8.RuneCountInString(s) > 100 || !utf8.ValidString(s) {
		return errors.New("mail: the practice name is longer than 100 characters or not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errors.New("mail: the practice name contains a control character")
		}
	}
	return nil
}

func checkDeviceHint(s string) error {
	if len(s) > 80 {
		return errors.New("mail: the device hint is longer than 80 characters")
	}
	for _, r := range s {
		ok := r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" .,()/+:_-", r))
		if !ok {
			return fmt.Errorf("mail: the device hint contains %q; use letters, digits, spaces and .,()/+:_- only", r)
		}
	}
	return nil
}

// checkURL accepts an absolute https URL without credentials, spaces or
// control characters.
func checkURL(s string) error {
	if s == "" {
		return errors.New("mail: the link is not set")
	}
	if len(s) > 2000 {
		return errors.New("mail: the link is longer than 2000 characters")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return errors.New("mail: the link contains a space, control or non-ASCII character")
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return errors.New("mail: the link must be an absolute https:// URL without credentials")
	}
	return nil
}

// humanDuration writes d the way people say it: "30 minutes", "1 hour",
// "7 days".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	d = d.Round(time.Minute)
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d > 2*time.Hour:
		return "about " + plural(int64((d+30*time.Minute)/time.Hour), "hour")
	}
	return plural(int64(d/time.Minute), "minute")
}
