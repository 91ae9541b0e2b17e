// Package mail sends Uroportal's email through an SMTP outbox.
//
// A message is rendered from one of a fixed set of templates (NewSignIn,
// PasswordReset, ProxyInvite, NewMessage, ResultReady) whose fields are only
// safe values — the practice's name, a link, a time — so no caller can put
// PHI in an email: every body says "sign in to see". Enqueue writes the
// message to the mail_outbox table inside the caller's transaction, so the
// email commits with the change that caused it; the recipient address (and
// the body, which may hold a one-time link) is sealed by the keyring.
//
// Outbox.Run, on every node, calls SendDue now and then. SendDue claims due
// messages with a lease (an UPDATE that succeeds on one node only), so when
// several nodes share one database each message is sent once. Delivery
// requires TLS: STARTTLS on the submission port, or implicit TLS on port 465.
// A server that does not offer STARTTLS, or a failed handshake, leaves the
// message queued; nothing, not even AUTH, is sent in plaintext. Failures are
// retried with exponential backoff and given up after MaxAttempts.
//
// Logs and last_error carry the message ID and kind, never the address,
// subject or body.
package mail

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// Default timeouts of one SMTP session.
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultSessionTimeout = time.Minute
)

// Config says how to reach the practice's SMTP server.
type Config struct {
	// Host is the SMTP server's DNS name (or IP), also the name its TLS
	// certificate must carry.
	Host string
	// Port is usually 587 (submission with STARTTLS). 465 means implicit TLS.
	Port int
	// Username and Password, if set, authenticate with AUTH PLAIN, only ever
	// after TLS is up.
	Username, Password string
	// From is the sender, e.g. "Example Urology <portal@example.org>".
	From string
	// HelloName is the name this node gives in EHLO; default "localhost".
	HelloName string
	// TLS verifies the server. nil means the system roots with ServerName =
	// Host; a config without ServerName gets Host. Tests pass one that trusts
	// their own CA. TLS 1.2 is the minimum either way.
	TLS *tls.Config
	// ImplicitTLS speaks TLS from the first byte (SMTPS) instead of STARTTLS.
	// Port 465 implies it.
	ImplicitTLS bool
	// DialTimeout bounds connecting (and, with implicit TLS, the handshake);
	// SessionTimeout bounds one whole session. Zero means the defaults.
	DialTimeout, SessionTimeout time.Duration
}

// Validate reports the first thing wrong with c in words an operator can act
// on.
func (c Config) Validate() error {
	switch {
	case c.Host == "":
		return errors.New("mail: the SMTP host is not set (the DNS name of the practice's mail server)")
	case !safeToken(c.Host) || strings.ContainsAny(c.Host, "/@"):
		return fmt.Errorf("mail: the SMTP host %q is not a host name or IP address", c.Host)
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("mail: the SMTP port %d is not valid; use 587 (STARTTLS) or 465 (implicit TLS)", c.Port)
	}
	if c.From == "" {
		return errors.New("mail: the sender address (From) is not set")
	}
	if hasCRLF(c.From) {
		return errors.New("mail: the sender address (From) contains a line break")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("mail: the sender address (From) %q is not a valid email address: %v", c.From, err)
	}
	if c.HelloName != "" && !safeToken(c.HelloName) {
		return fmt.Errorf("mail: the EHLO name %q must be one DNS name without spaces", c.HelloName)
	}
	switch {
	case c.Username == "" && c.Password != "":
		return errors.New("mail: an SMTP password is set without a username")
	case c.Username != "" && c.Password == "":
		return errors.New("mail: an SMTP username is set without a password")
	case hasCRLF(c.Username) || hasCRLF(c.Password):
		return errors.New("mail: the SMTP username or password contains a line break")
	}
	if c.DialTimeout < 0 || c.SessionTimeout < 0 {
		return errors.New("mail: SMTP timeouts cannot be negative")
	}
	if c.TLS != nil && c.TLS.InsecureSkipVerify {
		return errors.New("mail: the SMTP TLS configuration skips certificate verification; give it the server's CA instead")
	}
	return nil
}

// LogValue shows where mail goes, never the credentials.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.Bool("implicit_tls", c.implicitTLS()),
		slog.Bool("auth", c.Username != ""),
	)
}

func (c Config) implicitTLS() bool { return c.ImplicitTLS || c.Port == 465 }

func (c Config) addr() string {
	h := c.Host
	if strings.Contains(h, ":") { // IPv6 literal
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(c.Port)
}

func (c Config) helloName() string {
	if c.HelloName == "" {
		return "localhost"
	}
	return c.HelloName
}

func (c Config) dialTimeout() time.Duration {
	if c.DialTimeout == 0 {
		return DefaultDialTimeout
	}
	return c.DialTimeout
}

func (c Config) sessionTimeout() time.Duration {
	if c.SessionTimeout == 0 {
		return DefaultSessionTimeout
	}
	return c.SessionTimeout
}

// tlsConfig is the client TLS configuration: the caller's, with the server
// name and a floor of TLS 1.2 filled in.
func (c Config) tlsConfig() *tls.Config {
	var t *tls.Config
	if c.TLS != nil {
		t = c.TLS.Clone()
	} else {
		t = &tls.Config{}
	}
	if t.ServerName == "" {
		t.ServerName = c.Host
	}
	if t.MinVersion < tls.VersionTLS12 {
		t.MinVersion = tls.VersionTLS12
	}
	return t
}

// safeToken reports whether s is non-empty printable ASCII without spaces.
func safeToken(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }
