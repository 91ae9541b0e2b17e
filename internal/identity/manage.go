package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/fault"
	"uroportal/internal/identity/passwords"
	"uroportal/internal/session"
	"uroportal/internal/store"
)

// RecentAuth is how fresh a proof of identity must be before email,
// password or second-factor changes.
const RecentAuth = 5 * time.Minute

// ResetValid is how long a password-reset link works.
const ResetValid = 30 * time.Minute

// ErrStepUp asks the user to confirm who they are before a sensitive change.
var ErrStepUp = fault.E(fault.Forbidden, "For your safety, please enter your password again before making this change.", errors.New("identity: step-up required"))

// RequireRecent refuses unless the session proved identity within
// RecentAuth.
func (a *Auth) RequireRecent(p Principal) error {
	if a.Users.Clock.Now().Sub(p.Session.AuthenticatedAt) > RecentAuth {
		return ErrStepUp
	}
	return nil
}

// requireRecentUnlessEnrolling: a session that exists only to enroll its
// first factor was just proven by the password; any other must be recent.
func (a *Auth) requireRecentUnlessEnrolling(p Principal) error {
	if p.Session.State == session.Enroll {
		return nil
	}
	return a.RequireRecent(p)
}

// Reauthenticate checks the password of a signed-in user (and their second
// factor when they have one) and marks the session as freshly proven.
func (a *Auth) Reauthenticate(ctx context.Context, p Principal, password, method, code string) error {
	ok, wait, err := a.Throttle.Take(ctx, "reauth:"+p.User.ID, a.cfg.PerIPAccount)
	if err != nil {
		return err
	}
	if !ok {
		return rateLimited(wait)
	}
	ac, err := a.loadByID(ctx, p.User.ID)
	if err != nil {
		return err
	}
	// The attempt is reserved (and refused on a locked account) before any
	// check, so parallel guesses cannot outrun the lockout.
	if err := a.reserveAttempt(ctx, ac.ID); err != nil {
		return err
	}
	release, ok := a.pool.acquire(ctx)
	if !ok {
		return rateLimited(5 * time.Second)
	}
	good, _, _ := VerifyPassword(password, ac.hash, a.Users.Argon2)
	release()
	if good && len(ac.methods()) > 0 {
		switch method {
		case "totp":
			good, err = a.checkTOTP(ctx, ac.ID, code)
		case "recovery":
			good, err = a.useRecoveryCode(ctx, ac.ID, code)
		default:
			good = false
		}
		if err != nil {
			return err
		}
	}
	if !good {
		if err := a.attemptFailed(ctx, ac.ID); err != nil {
			return err
		}
		if err := a.Audit.Record(ctx, nil, audit.Event{Type: "auth.reauth", Outcome: "failure", Actor: p.Actor(), Category: "security", Action: "sign-in"}); err != nil {
			return err
		}
		return fault.E(fault.Unauthenticated, "That did not match. Check your password and code and try again.", nil)
	}
	if err := a.succeeded(ctx, ac.ID); err != nil {
		return err
	}
	if err := a.Sessions.Reauthenticated(ctx, p.Session.ID); err != nil {
		return err
	}
	return a.Audit.Record(ctx, nil, audit.Event{Type: "auth.reauth", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "sign-in"})
}

// TOTPEnrollment is what the enrollment page shows.
type TOTPEnrollment struct {
	Secret string // for typing in by hand
	URL    string // otpauth:// for the QR code
	QRPNG  string // data: URL of the QR code, rendered on the server
}

// BeginTOTP makes a new secret, kept pending until a code from it is
// confirmed.
func (a *Auth) BeginTOTP(ctx context.Context, p Principal, issuer string) (TOTPEnrollment, error) {
	if err := a.requireRecentUnlessEnrolling(p); err != nil {
		return TOTPEnrollment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: p.User.Email, Period: totpPeriod, SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrollment{}, err
	}
	ct, err := a.Users.Keys.Encrypt(ctx, fieldOf(p.User.ID, "totp_pending"), []byte(key.Secret()))
	if err != nil {
		return TOTPEnrollment{}, err
	}
	if _, err := a.Users.DB.ExecContext(ctx, `UPDATE users SET totp_pending = $1 WHERE id = $2`, ct, p.User.ID); err != nil {
		return TOTPEnrollment{}, err
	}
	return enrollmentView(key)
}

// PendingTOTP shows the enrollment already started, so a mistyped code
// does not make the user scan a new QR code.
func (a *Auth) PendingTOTP(ctx context.Context, p Principal, issuer string) (TOTPEnrollment, error) {
	if err := a.requireRecentUnlessEnrolling(p); err != nil {
		return TOTPEnrollment{}, err
	}
	var ct []byte
	if err := a.Users.DB.QueryRowContext(ctx, `SELECT totp_pending FROM users WHERE id = $1`, p.User.ID).Scan(&ct); err != nil || ct == nil {
		return TOTPEnrollment{}, fault.E(fault.Conflict, "Start again: the set-up code has expired or was already used.", err)
	}
	secret, err := a.Users.Keys.Decrypt(ctx, fieldOf(p.User.ID, "totp_pending"), ct)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + p.User.Email}
	q := url.Values{"secret": {string(secret)}, "issuer": {issuer}, "period": {"30"}, "digits": {"6"}, "algorithm": {"SHA1"}}
	u.RawQuery = q.Encode()
	key, err := otp.NewKeyFromURL(u.String())
	if err != nil {
		return TOTPEnrollment{}, err
	}
	return enrollmentView(key)
}

func enrollmentView(key *otp.Key) (TOTPEnrollment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPEnrollment{}, err
	}
	return TOTPEnrollment{Secret: key.Secret(), URL: key.URL(), QRPNG: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// ConfirmTOTP checks a code from the pending secret and makes it the user's
// authenticator. It returns fresh recovery codes if the user had none, and,
// for a session that was waiting on enrollment, its new token.
func (a *Auth) ConfirmTOTP(ctx context.Context, p Principal, code string) (codes []string, newToken string, err error) {
	if err := a.requireRecentUnlessEnrolling(p); err != nil {
		return nil, "", err
	}
	var ct []byte
	if err := a.Users.DB.QueryRowContext(ctx, `SELECT totp_pending FROM users WHERE id = $1`, p.User.ID).Scan(&ct); err != nil {
		return nil, "", err
	}
	if ct == nil {
		return nil, "", fault.E(fault.Conflict, "Start again: the set-up code has expired or was already used.", nil)
	}
	secret, err := a.Users.Keys.Decrypt(ctx, fieldOf(p.User.ID, "totp_pending"), ct)
	if err != nil {
		return nil, "", err
	}
	step, ok := totpStep(string(secret), code, a.Users.Clock.Now())
	if !ok {
		return nil, "", ErrCode
	}
	active, err := a.Users.Keys.Encrypt(ctx, fieldOf(p.User.ID, "totp_secret"), secret)
	if err != nil {
		return nil, "", err
	}
	if _, err := a.Users.DB.ExecContext(ctx, `UPDATE users SET totp_secret = $1, totp_pending = NULL, totp_last_step = $2 WHERE id = $3`, active, step, p.User.ID); err != nil {
		return nil, "", err
	}
	return a.factorAdded(ctx, p, "totp")
}

// NewRecoveryCodes replaces a user's recovery codes with ten new ones.
func (a *Auth) NewRecoveryCodes(ctx context.Context, p Principal) ([]string, error) {
	if err := a.RequireRecent(p); err != nil {
		return nil, err
	}
	var codes []string
	err := a.Users.DB.InTx(ctx, func(tx *sql.Tx) (err error) {
		if codes, err = a.replaceRecoveryCodes(ctx, tx, p.User.ID); err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "auth.recovery.replaced", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "privilege change"})
	})
	return codes, err
}

func (a *Auth) replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userID string) ([]string, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return nil, err
	}
	now := a.Users.Clock.Now().UnixMilli()
	codes := make([]string, 10)
	for i := range codes {
		codes[i] = newRecoveryCode()
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)`,
			userID, hashRecovery(a.RecoveryKey, userID, codes[i]), now); err != nil {
			return nil, err
		}
	}
	return codes, nil
}

// RemoveTOTP removes the authenticator app. Staff and proxies may not remove
// their last factor.
func (a *Auth) RemoveTOTP(ctx context.Context, p Principal) error {
	if err := a.RequireRecent(p); err != nil {
		return err
	}
	ac, err := a.loadByID(ctx, p.User.ID)
	if err != nil {
		return err
	}
	if a.cfg.needsMFA(ac.Role) && ac.passkeys == 0 {
		return fault.E(fault.Conflict, "Your account needs a second way to sign in. Add a passkey before removing the authenticator app.", nil)
	}
	return a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = NULL, totp_pending = NULL WHERE id = $1`, p.User.ID); err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "auth.mfa.removed", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "privilege change", Reason: "totp"})
	})
}

// policyInput builds the password-policy check for a user.
func (a *Auth) policyInput(ac account, pw, practice string) passwords.Input {
	return passwords.Input{Password: pw, MFAEnrolled: len(ac.methods()) > 0, Context: []string{practice, ac.Name, ac.Email}}
}

// ChangePassword sets a new password after checking the current one. Every
// other session of the user ends; this one gets a new token.
func (a *Auth) ChangePassword(ctx context.Context, p Principal, current, next, practice string) (string, error) {
	if err := a.RequireRecent(p); err != nil {
		return "", err
	}
	ac, err := a.loadByID(ctx, p.User.ID)
	if err != nil {
		return "", err
	}
	if err := passwords.Check(a.policyInput(ac, next, practice)); err != nil {
		return "", err
	}
	if err := a.reserveAttempt(ctx, ac.ID); err != nil {
		return "", err
	}
	release, ok := a.pool.acquire(ctx)
	if !ok {
		return "", rateLimited(5 * time.Second)
	}
	good, _, _ := VerifyPassword(current, ac.hash, a.Users.Argon2)
	var hash string
	if good {
		hash, err = HashPassword(next, a.Users.Argon2)
	}
	release()
	if !good {
		if err := a.attemptFailed(ctx, ac.ID); err != nil {
			return "", err
		}
		if err := a.Audit.Record(ctx, nil, audit.Event{Type: "auth.password.change", Outcome: "failure", Actor: p.Actor(), Category: "security", Action: "update", Reason: "bad_current_password"}); err != nil {
			return "", err
		}
		return "", fault.E(fault.Invalid, "Your current password is not right.", nil)
	}
	if err != nil {
		return "", err
	}
	if err := a.succeeded(ctx, ac.ID); err != nil {
		return "", err
	}
	var token string
	err = a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, password_changed_at = $2, totp_pending = NULL WHERE id = $3`, hash, a.Users.Clock.Now().UnixMilli(), p.User.ID); err != nil {
			return err
		}
		if _, err := a.Sessions.EndUser(ctx, tx, p.User.ID, session.EndPasswordChange, p.Session.ID); err != nil {
			return err
		}
		if err := a.spendResetLinks(ctx, tx, p.User.ID); err != nil {
			return err
		}
		if token, err = a.Sessions.Advance(ctx, tx, p.Session.ID, p.Session.State); err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "auth.password.changed", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "update"})
	})
	return token, err
}

// RequestPasswordReset emails a single-use link valid for 30 minutes if the
// account exists. Its answer never says whether it does.
func (a *Auth) RequestPasswordReset(ctx context.Context, email, linkBase string, c Client) error {
	c.IP = AddressKey(c.IP)
	if err := a.shielded(ctx, c.IP, "auth.password.reset_requested"); err != nil {
		return err
	}
	ok, wait, err := a.Throttle.Take(ctx, "reset:"+c.IP, a.cfg.PerIPAccount)
	if err != nil {
		return err
	}
	if !ok {
		return rateLimited(wait)
	}
	ac, err := a.loadByEmail(ctx, email)
	if errors.Is(err, sql.ErrNoRows) {
		return a.Audit.Record(ctx, nil, audit.Event{Type: "auth.password.reset_requested", Outcome: "failure", Category: "security", Action: "update", Reason: "unknown_account"})
	}
	if err != nil {
		return err
	}
	if ac.disabled {
		return a.Audit.Record(ctx, nil, audit.Event{Type: "auth.password.reset_requested", Outcome: "failure", Actor: access.Actor{UserID: ac.ID, Role: ac.Role}, Category: "security", Action: "update", Reason: "disabled"})
	}
	// At most a few reset emails an hour to one account, from anywhere, so
	// nobody can flood a person's inbox; the answer looks the same.
	if ok, _, err := a.Throttle.Take(ctx, "reset-account:"+ac.ID, Bucket{Capacity: 3, Per: 3.0 / 3600}); err != nil {
		return err
	} else if !ok {
		return a.Audit.Record(ctx, nil, audit.Event{Type: "auth.password.reset_requested", Outcome: audit.Denied, Actor: access.Actor{UserID: ac.ID, Role: ac.Role}, Category: "security", Action: "update", Reason: "throttled"})
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(token))
	now := a.Users.Clock.Now()
	return a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			h[:], ac.ID, now.UnixMilli(), now.Add(ResetValid).UnixMilli()); err != nil {
			return err
		}
		if err := a.Notify.PasswordReset(ctx, tx, ac.Email, linkBase+token, ResetValid); err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "auth.password.reset_requested", Outcome: audit.Success, Actor: access.Actor{UserID: ac.ID, Role: ac.Role}, Category: "security", Action: "update"})
	})
}

// spendResetLinks makes every outstanding reset link of a user useless.
func (a *Auth) spendResetLinks(ctx context.Context, tx *sql.Tx, userID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`, a.Users.Clock.Now().UnixMilli(), userID)
	return err
}

var errResetLink = fault.E(fault.Invalid, "This reset link has expired or was already used. Ask for a new one.", nil)

// ResetPassword sets a new password with a reset link's token. It lifts a
// timed lockout (not an admin lock), ends every session, and does not sign
// the user in: they sign in next with the new password and their second
// factor, so a reset never bypasses MFA.
func (a *Auth) ResetPassword(ctx context.Context, token, next, practice string) error {
	h := sha256.Sum256([]byte(token))
	var userID string
	var expires int64
	var used sql.NullInt64
	err := a.Users.DB.QueryRowContext(ctx, `SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = $1`, h[:]).Scan(&userID, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (used.Valid || a.Users.Clock.Now().UnixMilli() >= expires) {
		return errResetLink
	}
	if err != nil {
		return err
	}
	ac, err := a.loadByID(ctx, userID)
	if err != nil {
		return err
	}
	if err := passwords.Check(a.policyInput(ac, next, practice)); err != nil {
		return err
	}
	hash, err := HashPassword(next, a.Users.Argon2)
	if err != nil {
		return err
	}
	now := a.Users.Clock.Now().UnixMilli()
	return a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL`, now, h[:])
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errResetLink
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, password_changed_at = $2, failed_logins = 0, locked_until = 0, totp_pending = NULL WHERE id = $3`, hash, now, userID); err != nil {
			return err
		}
		if _, err := a.Sessions.EndUser(ctx, tx, userID, session.EndPasswordReset, ""); err != nil {
			return err
		}
		if err := a.spendResetLinks(ctx, tx, userID); err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "auth.password.reset", Outcome: audit.Success, Actor: access.Actor{UserID: userID, Role: ac.Role}, Category: "security", Action: "update"})
	})
}

// AdminUnlock lifts any lockout; only an admin may.
func (a *Auth) AdminUnlock(ctx context.Context, admin access.Actor, userID string) error {
	return a.adminChange(ctx, admin, userID, "auth.unlock", `UPDATE users SET failed_logins = 0, lockouts = 0, locked_until = 0, admin_locked = 0 WHERE id = $1`, "")
}

// SetDisabled disables (ending every session at once) or enables an
// account; only an admin may. The account stays, and its ID is never reused.
func (a *Auth) SetDisabled(ctx context.Context, admin access.Actor, userID string, disabled bool) error {
	if disabled {
		return a.adminChange(ctx, admin, userID, "account.disable", `UPDATE users SET disabled_at = COALESCE(disabled_at, `+strconv.FormatInt(a.Users.Clock.Now().UnixMilli(), 10)+`) WHERE id = $1`, session.EndDisabled)
	}
	return a.adminChange(ctx, admin, userID, "account.enable", `UPDATE users SET disabled_at = NULL WHERE id = $1`, "")
}

// EndSessionsOf ends every session of a user; only an admin may.
func (a *Auth) EndSessionsOf(ctx context.Context, admin access.Actor, userID string) error {
	return a.adminChange(ctx, admin, userID, "auth.session.end_all", `UPDATE users SET id = id WHERE id = $1`, session.EndByAdmin)
}

func (a *Auth) adminChange(ctx context.Context, admin access.Actor, userID, event, stmt, endReason string) error {
	if admin.Role != access.Admin || admin.UserID == "" {
		a.Audit.Record(ctx, nil, audit.Event{Type: event, Outcome: audit.Denied, Actor: admin, Category: "security", Action: "privilege change", ObjectIDs: []string{userID}})
		return access.ErrDenied
	}
	return a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, stmt, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.E(fault.NotFound, "There is no such account.", nil)
		}
		if endReason != "" {
			if _, err := a.Sessions.EndUser(ctx, tx, userID, endReason, ""); err != nil {
				return err
			}
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: event, Outcome: audit.Success, Actor: admin, Category: "security", Action: "privilege change", ObjectIDs: []string{userID}})
	})
}

// FindUser returns the ID of the account with email, for operator commands.
func (a *Auth) FindUser(ctx context.Context, email string) (string, error) {
	ac, err := a.loadByEmail(ctx, email)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fault.E(fault.NotFound, "There is no account with that email.", nil)
	}
	return ac.ID, err
}

// Security is what the account security page shows.
type Security struct {
	TOTP         bool
	RecoveryLeft int
	Passkeys     int
	Sessions     []session.Session
}

// SecurityOf reads a user's factors and live sessions.
func (a *Auth) SecurityOf(ctx context.Context, p Principal) (Security, error) {
	ac, err := a.loadByID(ctx, p.User.ID)
	if err != nil {
		return Security{}, err
	}
	list, err := a.Sessions.List(ctx, p.User.ID)
	if err != nil {
		return Security{}, err
	}
	return Security{TOTP: ac.totp, RecoveryLeft: ac.recoveryCodes, Passkeys: ac.passkeys, Sessions: list}, nil
}

// EndOwnSession ends one of the user's sessions.
func (a *Auth) EndOwnSession(ctx context.Context, p Principal, id string) error {
	if err := a.Sessions.EndOwn(ctx, p.User.ID, id, session.EndByUser); err != nil {
		return err
	}
	return a.Audit.Record(ctx, nil, audit.Event{Type: "auth.session.end", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "sign-in", Reason: session.EndByUser, ObjectIDs: []string{id}})
}

// ChangeEmail changes the sign-in email after a fresh proof of identity.
func (a *Auth) ChangeEmail(ctx context.Context, p Principal, email string) error {
	if err := a.RequireRecent(p); err != nil {
		return err
	}
	email = NormalizeEmail(email)
	if len(email) > 254 || !strings.Contains(email, "@") || strings.ContainsAny(email, " \r\n") {
		return fault.E(fault.Invalid, "Enter an email address like name@example.org.", nil)
	}
	ct, err := a.Users.Keys.Encrypt(ctx, fieldOf(p.User.ID, "email"), []byte(email))
	if err != nil {
		return err
	}
	return a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET email = $1, email_index = $2 WHERE id = $3`, ct, a.Users.Keys.BlindIndex(indexEmail, email), p.User.ID)
		if store.IsUniqueViolation(err) {
			return fault.E(fault.Conflict, "Another account already uses that email address.", nil)
		}
		if err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "auth.email.changed", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "update"})
	})
}
