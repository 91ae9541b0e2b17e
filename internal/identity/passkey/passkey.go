// Package passkey signs people in with WebAuthn passkeys (go-webauthn): a
// phishing-resistant authenticator for NIST SP 800-63B-4 AAL2, with user
// verification (PIN or biometric) required for staff.
//
// Ceremonies are kept in the database, not in process memory, so any node
// may finish what another began. Each is single use (deleted when it is
// finished, whatever the outcome), expires by the Clock, and a registration
// can only be finished by the user who began it. The WebAuthn user handle is
// a keyed hash of the user ID: opaque, the same on every node, never the
// email.
//
// The browser side is the plain WebAuthn JSON: the options this package
// returns are {"publicKey": {...}} for
// PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON,
// and the response to post back is PublicKeyCredential.toJSON().
package passkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/keyring"
	"uroportal/internal/store"
)

// DefaultTimeout is how long a ceremony may take when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// MaxPasskeys bounds the passkeys one account may hold.
const MaxPasskeys = 20

// maxResponse bounds the JSON a browser may post for one ceremony. Real
// responses are a few kilobytes; attestation certificates add a few more.
const maxResponse = 64 << 10

// Messages shown to people. They say what to do and never why inside.
const (
	msgUse      = "That passkey could not be used. Try again, or use your authenticator app."
	msgRegister = "That passkey could not be added. Try again, or use your authenticator app."
	msgExpired  = "That passkey request has expired or was already used. Start again."
	msgStaffUV  = "Staff accounts need a passkey that checks your PIN, fingerprint or face. Try again with one that does."
	msgName     = "Give the passkey a name of up to 64 characters, such as “Work laptop”."
	msgTooMany  = "This account already has the most passkeys it can hold. Remove one you no longer use, then add the new one."
	msgNotFound = "That passkey was not found. It may have been removed already."
	msgExists   = "That passkey is already registered."
)

// EncryptedTables lists this package's encrypted columns, for key status,
// rewrap and retire.
var EncryptedTables = []keyring.Table{
	{Name: "passkeys", Columns: []string{"credential_id", "public_key", "name"}},
	{Name: "webauthn_ceremonies", Columns: []string{"data"}},
}

// Config is the relying party.
type Config struct {
	// RPID is the domain passkeys are bound to, e.g. "portal.example.org".
	RPID string
	// RPDisplayName is what the authenticator shows, e.g. "Uroportal".
	RPDisplayName string
	// RPOrigins are the exact origins the portal is served at, e.g.
	// "https://portal.example.org".
	RPOrigins []string
	// Timeout is how long a ceremony may take; DefaultTimeout when zero.
	Timeout time.Duration
}

// Service registers passkeys and signs people in with them.
type Service struct {
	DB       *store.DB
	Keys     *keyring.Keyring
	Clock    clock.Clock
	WebAuthn *webauthn.WebAuthn

	timeout time.Duration
}

// New checks cfg and returns a Service.
func New(cfg Config, db *store.DB, keys *keyring.Keyring, clk clock.Clock) (*Service, error) {
	if cfg.RPID == "" || cfg.RPDisplayName == "" || len(cfg.RPOrigins) == 0 {
		return nil, errors.New("passkey: the relying party needs an ID (the portal's domain), a display name and at least one origin")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("passkey: the ceremony timeout must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	timeouts := webauthn.TimeoutConfig{Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPDisplayName,
		RPOrigins:             cfg.RPOrigins,
		AttestationPreference: protocol.PreferNoAttestation,
		// Expiry is enforced here from the Clock, not by the library's
		// wall clock.
		Timeouts: webauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{DB: db, Keys: keys, Clock: clk, WebAuthn: wa, timeout: cfg.Timeout}, nil
}

// User is the account a passkey is registered for, as identity knows it.
type User struct {
	ID    string
	Email string
	Name  string
	// Staff accounts must use a passkey with user verification.
	Staff bool
}

// LogValue keeps a user to its ID in logs.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", u.ID), slog.Bool("staff", u.Staff))
}

// Info describes a registered passkey for the account page.
type Info struct {
	ID         string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never used to sign in
	// Synced means the authenticator reports the passkey backed up (for
	// example to a phone maker's cloud); BackupEligible that it may be.
	Synced         bool
	BackupEligible bool
	// UserVerified means the authenticator checked a PIN or biometric when
	// the passkey was registered.
	UserVerified bool
	Transports   []string
}

// LogValue keeps a passkey to its ID in logs; the name is the user's own
// text.
func (i Info) LogValue() slog.Value { return slog.StringValue(i.ID) }

// handle is the WebAuthn user handle for userID: HMAC-SHA-256 under a key
// derived from the keyring, so it is opaque, fixed, and the same on every
// node. The authenticator stores it and returns it at sign-in.
func (s *Service) handle(userID string) []byte {
	m := hmac.New(sha256.New, s.Keys.DeriveKey("webauthn user handle"))
	m.Write([]byte(userID))
	return m.Sum(nil)
}

// credentialIndex is the blind index of a raw credential ID.
func (s *Service) credentialIndex(rawID []byte) []byte {
	return s.Keys.BlindIndex("passkeys.credential_id", string(rawID))
}

// waUser adapts an account to go-webauthn.
type waUser struct {
	handle      []byte
	name        string
	displayName string
	creds       []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.displayName }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// cleanName checks a user's label for a passkey.
func cleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Passkey", nil
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64 {
		return "", fault.E(fault.Invalid, msgName, nil)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return "", fault.E(fault.Invalid, msgName, nil)
		}
	}
	return name, nil
}

// knownTransports are the transports kept from what a browser reports.
var knownTransports = map[protocol.AuthenticatorTransport]bool{
	protocol.USB: true, protocol.NFC: true, protocol.BLE: true, protocol.SmartCard: true,
	protocol.Hybrid: true, protocol.Internal: true,
}

func joinTransports(ts []protocol.AuthenticatorTransport) string {
	var out []string
	for _, t := range ts {
		if knownTransports[t] {
			out = append(out, string(t))
		}
	}
	return strings.Join(out, ",")
}

func splitTransports(s string) []protocol.AuthenticatorTransport {
	if s == "" {
		return nil
	}
	var out []protocol.AuthenticatorTransport
	for _, t := range strings.Split(s, ",") {
		out = append(out, protocol.AuthenticatorTransport(t))
	}
	return out
}

// detail adds go-webauthn's developer note, which its Error() leaves out,
// to an error bound for the log (never for a person).
func detail(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return fmt.Errorf("%w (%s)", err, pe.DevInfo)
	}
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
