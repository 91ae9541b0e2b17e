package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/fault"
	"uroportal/internal/identity/passkey"
	"uroportal/internal/session"
	"uroportal/internal/store"
)

// LockoutPolicy is progressive: Threshold failures lock the account for
// Base, doubling with each lockout up to Max; after AdminAfter lockouts in a
// row only an admin can unlock it.
type LockoutPolicy struct {
	Threshold  int
	Base, Max  time.Duration
	AdminAfter int
}

// DefaultLockout: 5 failures → 1 minute, doubling, capped at 1 hour; the
// tenth lockout in a row needs an admin.
var DefaultLockout = LockoutPolicy{Threshold: 5, Base: time.Minute, Max: time.Hour, AdminAfter: 10}

func (p LockoutPolicy) duration(lockouts int) time.Duration {
	d := p.Base
	for range lockouts {
		d *= 2
		if d >= p.Max {
			return p.Max
		}
	}
	return d
}

// AuthConfig tunes sign-in.
type AuthConfig struct {
	Lockout LockoutPolicy
	// PerIP and PerIPAccount are the sign-in token buckets.
	PerIP, PerIPAccount Bucket
	// HashWorkers bounds concurrent password hashing (default: CPUs);
	// HashQueue bounds how many attempts may wait for a worker before the
	// rest get 429 without any hashing (default 4 × workers).
	HashWorkers, HashQueue int
	// StaffNetworks, when set, are the only networks staff may sign in
	// from. Patients and proxies are not restricted.
	StaffNetworks []netip.Prefix
	// RequirePatientMFA makes patients enroll a second factor too.
	RequirePatientMFA bool
	// MaxMFAAttempts ends a pending sign-in after this many wrong codes.
	MaxMFAAttempts int
}

func (c AuthConfig) withDefaults() AuthConfig {
	if c.Lockout.Threshold == 0 {
		c.Lockout = DefaultLockout
	}
	if c.PerIP.Capacity == 0 {
		// Generous: a practice's patients may share one address.
		c.PerIP = Bucket{Capacity: 60, Per: 1}
	}
	if c.PerIPAccount.Capacity == 0 {
		c.PerIPAccount = Bucket{Capacity: 10, Per: 1.0 / 30}
	}
	if c.HashWorkers <= 0 {
		c.HashWorkers = runtime.GOMAXPROCS(0)
	}
	if c.HashQueue <= 0 {
		c.HashQueue = 4 * c.HashWorkers
	}
	if c.MaxMFAAttempts <= 0 {
		c.MaxMFAAttempts = 5
	}
	return c
}

// Staff reports whether a role is practice staff.
func Staff(r access.Role) bool { return r != access.Patient && r != access.Proxy }

// needsMFA reports whether a role must enroll a second factor.
func (c AuthConfig) needsMFA(r access.Role) bool {
	return r != access.Patient || c.RequirePatientMFA
}

// Notifier sends the emails sign-in needs. None carries PHI.
type Notifier interface {
	NewSignIn(ctx context.Context, q store.Querier, to string, when time.Time, device string) error
	PasswordReset(ctx context.Context, q store.Querier, to, link string, valid time.Duration) error
}

// Auth signs people in.
type Auth struct {
	Users    *Store
	Sessions *session.Store
	Audit    audit.Recorder
	Throttle *Throttle
	Notify   Notifier
	// RecoveryKey keys the recovery-code and activation-code hashes (from
	// the keyring).
	RecoveryKey []byte
	// MatchPatient checks identity at activation.
	MatchPatient MatchPatient
	// Passkeys registers and verifies WebAuthn credentials.
	Passkeys *passkey.Service
	cfg      AuthConfig
	pool     *hashPool
	shield   *shield
	dummy    string
}

// NewAuth wires sign-in.
func NewAuth(users *Store, sessions *session.Store, rec audit.Recorder, th *Throttle, notify Notifier, recoveryKey []byte, cfg AuthConfig) (*Auth, error) {
	cfg = cfg.withDefaults()
	// A hash to verify against when the account does not exist, so unknown
	// and known accounts take the same time.
	dummy, err := HashPassword("uroportal timing equaliser", users.Argon2)
	if err != nil {
		return nil, err
	}
	return &Auth{Users: users, Sessions: sessions, Audit: rec, Throttle: th, Notify: notify, RecoveryKey: recoveryKey,
		cfg: cfg, pool: newHashPool(cfg.HashWorkers, cfg.HashQueue), shield: newShield(cfg.PerIP, 100_000), dummy: dummy}, nil
}

// Config returns the effective configuration.
func (a *Auth) Config() AuthConfig { return a.cfg }

// ErrInvalidCredentials is the one answer for an unknown account, a wrong
// password, a locked or a disabled account.
var ErrInvalidCredentials = fault.E(fault.Unauthenticated, "The email or password is not right, or the account is locked. Check them and try again, or reset your password.", errors.New("identity: invalid credentials"))

// ErrCode is the answer for a wrong second-factor code.
var ErrCode = fault.E(fault.Unauthenticated, "That code did not work. Codes change every 30 seconds and each works once; enter the newest one.", errors.New("identity: bad second factor"))

// RateLimitedError asks the client to wait.
type RateLimitedError struct{ Wait time.Duration }

func (e *RateLimitedError) Error() string { return "identity: too many sign-in attempts" }

// RetryAfter implements web.RetryAfterError.
func (e *RateLimitedError) RetryAfter() time.Duration { return e.Wait }

func rateLimited(wait time.Duration) error {
	return fault.E(fault.RateLimited, "Too many sign-in attempts. Please wait a minute and try again.", &RateLimitedError{Wait: wait})
}

// Client describes where a request comes from.
type Client struct {
	IP        string
	UserAgent string
	Kind      session.Kind
}

// LoginResult is the outcome of a correct password.
type LoginResult struct {
	Token   string
	Session session.Session
	// Methods lists the second factors the user can use now (state MFA).
	Methods []string
}

// account is what sign-in reads of a user.
type account struct {
	User
	hash          string
	failed        int
	lockouts      int
	lockedUntil   time.Time
	adminLocked   bool
	disabled      bool
	totp          bool
	recoveryCodes int
	passkeys      int
}

func (a *Auth) loadByEmail(ctx context.Context, email string) (account, error) {
	return a.load(ctx, `email_index = $1`, a.Users.Keys.BlindIndex(indexEmail, NormalizeEmail(email)))
}

func (a *Auth) loadByID(ctx context.Context, id string) (account, error) {
	return a.load(ctx, `id = $1`, id)
}

func (a *Auth) load(ctx context.Context, where string, arg any) (account, error) {
	var ac account
	var role string
	var pid sql.NullString
	var locked, disabled sql.NullInt64
	var adminLocked int
	var email, name, secret []byte
	err := a.Users.DB.QueryRowContext(ctx, `SELECT id, email, name, role, patient_id, password_hash, failed_logins, lockouts, locked_until, admin_locked, disabled_at, totp_secret,
		(SELECT count(*) FROM recovery_codes r WHERE r.user_id = users.id AND r.used_at IS NULL),
		(SELECT count(*) FROM passkeys k WHERE k.user_id = users.id)
		FROM users WHERE `+where, arg).Scan(&ac.ID, &email, &name, &role, &pid, &ac.hash, &ac.failed, &ac.lockouts, &locked, &adminLocked, &disabled, &secret,
		&ac.recoveryCodes, &ac.passkeys)
	if err != nil {
		return account{}, err
	}
	r := a.Users.Keys.Row(ctx, "users", ac.ID)
	ac.Email, ac.Name = r.Open("email", email), r.Open("name", name)
	if err := r.Err(); err != nil {
		return account{}, err
	}
	ac.Role, ac.PatientID = access.Role(role), pid.String
	ac.lockedUntil = time.UnixMilli(locked.Int64).UTC()
	ac.adminLocked, ac.disabled, ac.totp = adminLocked != 0, disabled.Valid, secret != nil
	return ac, nil
}

func (ac account) methods() []string {
	var m []string
	if ac.totp {
		m = append(m, "totp")
	}
	if ac.passkeys > 0 {
		m = append(m, "webauthn")
	}
	if ac.recoveryCodes > 0 {
		m = append(m, "recovery")
	}
	return m
}

func (a *Auth) record(ctx context.Context, typ, outcome, reason string, actor access.Actor) error {
	return a.Audit.Record(ctx, nil, audit.Event{Type: typ, Outcome: outcome, Actor: actor, Category: "security", Action: "sign-in", Reason: reason})
}

// Login checks an email and password. A correct password starts a session
// in state MFA (a factor is enrolled), Enroll (one must be enrolled first)
// or Active.
func (a *Auth) Login(ctx context.Context, email, password string, c Client) (LoginResult, error) {
	if len(email) > 320 || len(password) > 4096 {
		return LoginResult{}, ErrInvalidCredentials
	}
	email = NormalizeEmail(email)
	c.IP = AddressKey(c.IP)
	if err := a.shielded(ctx, c.IP, "auth.signin"); err != nil {
		return LoginResult{}, err
	}
	// Throttle before any hashing.
	for _, th := range []struct {
		name string
		b    Bucket
	}{{"ip:" + c.IP, a.cfg.PerIP}, {"ip+account:" + c.IP + "\x00" + email, a.cfg.PerIPAccount}} {
		ok, wait, err := a.Throttle.Take(ctx, th.name, th.b)
		if err != nil {
			return LoginResult{}, err
		}
		if !ok {
			if err := a.record(ctx, "auth.signin", audit.Denied, "throttled", access.Actor{}); err != nil {
				return LoginResult{}, err
			}
			return LoginResult{}, rateLimited(wait)
		}
	}
	ac, lerr := a.loadByEmail(ctx, email)
	if lerr != nil && !errors.Is(lerr, sql.ErrNoRows) {
		return LoginResult{}, lerr
	}
	now := a.Users.Clock.Now()
	refused := ""
	switch {
	case lerr != nil:
		refused = "unknown_account"
	case ac.disabled:
		refused = "disabled"
	case ac.adminLocked || now.Before(ac.lockedUntil):
		refused = "locked"
	default:
		// Reserve the attempt before checking it, so that parallel guesses
		// cannot outrun the lockout.
		if err := a.reserveAttempt(ctx, ac.ID); errors.Is(err, ErrInvalidCredentials) {
			refused = "locked"
		} else if err != nil {
			return LoginResult{}, err
		}
	}
	release, ok := a.pool.acquire(ctx)
	if !ok {
		if refused == "" {
			a.releaseAttempt(ctx, ac.ID)
		}
		return LoginResult{}, rateLimited(5 * time.Second)
	}
	hash := a.dummy
	if lerr == nil {
		hash = ac.hash
	}
	// Every answer costs one hash, so unknown, locked and wrong look alike.
	good, rehash, _ := VerifyPassword(password, hash, a.Users.Argon2)
	release()
	actor := access.Actor{UserID: ac.ID, Role: ac.Role, PatientID: ac.PatientID}
	switch {
	case refused != "":
		return LoginResult{}, a.fail(ctx, actor, refused)
	case !good:
		if err := a.attemptFailed(ctx, ac.ID); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, a.fail(ctx, actor, "bad_password")
	}
	// The right password: the reserved attempt is given back; a second
	// factor, if any, reserves its own.
	if err := a.releaseAttempt(ctx, ac.ID); err != nil {
		return LoginResult{}, err
	}
	if Staff(ac.Role) && len(a.cfg.StaffNetworks) > 0 && !inNetworks(c.IP, a.cfg.StaffNetworks) {
		if err := a.record(ctx, "auth.signin", audit.Denied, "staff_network", actor); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, fault.E(fault.Forbidden, "Staff accounts can sign in only from the practice's network. Connect from the practice, or ask your administrator.", nil)
	}
	if rehash {
		if h, err := HashPassword(password, a.Users.Argon2); err == nil {
			a.Users.DB.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, h, ac.ID)
		}
	}
	state := session.Active
	switch {
	case len(ac.methods()) > 0:
		state = session.MFA
	case a.cfg.needsMFA(ac.Role):
		state = session.Enroll
	}
	token, sess, err := a.Sessions.New(ctx, a.Users.DB, ac.ID, Staff(ac.Role), c.Kind, state, c.UserAgent, c.IP)
	if err != nil {
		return LoginResult{}, err
	}
	if state == session.Active {
		// Password alone completes sign-in: reset the counters now.
		if err := a.succeeded(ctx, ac.ID); err != nil {
			return LoginResult{}, err
		}
	}
	if err := a.record(ctx, "auth.signin.password", audit.Success, string(state), actor); err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Token: token, Session: sess, Methods: ac.methods()}, nil
}

// AddressKey is the unit of per-address limits: an IPv4 address, or the /64
// of an IPv6 address (one subscriber's block, which an attacker could
// otherwise rotate through).
func AddressKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// shielded stops a flood from one address in memory, before any database
// work, at every unauthenticated entry point; refusals are audited once a
// minute with a count.
func (a *Auth) shielded(ctx context.Context, ip, event string) error {
	ok, report, n := a.shield.allow(ip, a.Users.Clock.Now())
	if ok {
		return nil
	}
	if report {
		if err := a.record(ctx, event, audit.Denied, fmt.Sprintf("throttled: %d attempts from one address in the last minute", n), access.Actor{}); err != nil {
			return err
		}
	}
	return rateLimited(time.Second)
}

func (a *Auth) fail(ctx context.Context, actor access.Actor, class string) error {
	if err := a.record(ctx, "auth.signin", "failure", class, actor); err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// reserveAttempt counts an attempt as failed before it is checked, in one
// atomic statement that also refuses a locked or disabled account, so
// attempts on several nodes, or in parallel, add up and none outruns the
// lock. A right answer gives the attempt back (releaseAttempt) or clears the
// count (succeeded); a wrong one may lock (attemptFailed).
func (a *Auth) reserveAttempt(ctx context.Context, userID string) error {
	var n int
	err := a.Users.DB.QueryRowContext(ctx, `UPDATE users SET failed_logins = failed_logins + 1
		WHERE id = $1 AND admin_locked = 0 AND locked_until <= $2 AND disabled_at IS NULL RETURNING failed_logins`,
		userID, a.Users.Clock.Now().UnixMilli()).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrInvalidCredentials
	}
	if err != nil {
		return err
	}
	if n > a.cfg.Lockout.Threshold {
		// Over the limit already (attempts racing the lock): lock, refuse.
		if err := a.lock(ctx, userID); err != nil {
			return err
		}
		return ErrInvalidCredentials
	}
	return nil
}

// releaseAttempt gives back a reserved attempt that turned out right.
func (a *Auth) releaseAttempt(ctx context.Context, userID string) error {
	_, err := a.Users.DB.ExecContext(ctx, `UPDATE users SET failed_logins = failed_logins - 1 WHERE id = $1 AND failed_logins > 0`, userID)
	return err
}

// attemptFailed locks the account when a reserved attempt that failed
// reached the threshold.
func (a *Auth) attemptFailed(ctx context.Context, userID string) error {
	var failed int
	if err := a.Users.DB.QueryRowContext(ctx, `SELECT failed_logins FROM users WHERE id = $1`, userID).Scan(&failed); err != nil {
		return err
	}
	if failed < a.cfg.Lockout.Threshold {
		return nil
	}
	return a.lock(ctx, userID)
}

// lock locks the account (once, however many attempts race here), ends
// sign-ins waiting for a second factor, and records it.
func (a *Auth) lock(ctx context.Context, userID string) error {
	var lockouts int
	if err := a.Users.DB.QueryRowContext(ctx, `SELECT lockouts FROM users WHERE id = $1`, userID).Scan(&lockouts); err != nil {
		return err
	}
	p := a.cfg.Lockout
	until := a.Users.Clock.Now().Add(p.duration(lockouts))
	adminLock := 0
	if lockouts+1 >= p.AdminAfter {
		adminLock = 1
	}
	res, err := a.Users.DB.ExecContext(ctx, `UPDATE users SET failed_logins = 0, lockouts = lockouts + 1, locked_until = $1, admin_locked = CASE WHEN $2 = 1 THEN 1 ELSE admin_locked END
		WHERE id = $3 AND failed_logins >= $4`, until.UnixMilli(), adminLock, userID, p.Threshold)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil // another attempt locked it first
	}
	if _, err := a.Sessions.EndPending(ctx, a.Users.DB, userID, session.EndMFAFailed); err != nil {
		return err
	}
	reason := "locked until " + until.Format(time.RFC3339)
	if adminLock == 1 {
		reason = "locked until an admin unlocks"
	}
	return a.Audit.Record(ctx, nil, audit.Event{Type: "auth.lockout", Outcome: audit.Success, Actor: access.Actor{UserID: userID},
		Category: "security", Action: "sign-in", Reason: reason, ObjectIDs: []string{userID}})
}

// succeeded clears the failure counters after a complete sign-in.
func (a *Auth) succeeded(ctx context.Context, userID string) error {
	_, err := a.Users.DB.ExecContext(ctx, `UPDATE users SET failed_logins = 0, lockouts = 0, locked_until = 0 WHERE id = $1`, userID)
	return err
}

func inNetworks(ip string, nets []netip.Prefix) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, n := range nets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// Principal is an authenticated request's user and session.
type Principal struct {
	User    User
	Session session.Session
}

// Actor is the principal as the access policy sees it.
func (p Principal) Actor() access.Actor {
	return access.Actor{UserID: p.User.ID, Role: p.User.Role, PatientID: p.User.PatientID}
}

// Authenticate resolves a session token to its principal, touching the
// session. Sessions still waiting for a second factor are refused here; the
// MFA step reads them with Pending.
func (a *Auth) Authenticate(ctx context.Context, token string) (Principal, error) {
	return a.principal(ctx, token, true)
}

// Peek is Authenticate without counting as activity, for the page's
// "how long is left" check.
func (a *Auth) Peek(ctx context.Context, token string) (Principal, error) {
	return a.principal(ctx, token, false)
}

func (a *Auth) principal(ctx context.Context, token string, touch bool) (Principal, error) {
	sess, err := a.Sessions.Lookup(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	if sess.State == session.MFA {
		return Principal{}, session.ErrEnded
	}
	ac, err := a.loadByID(ctx, sess.UserID)
	if err != nil {
		return Principal{}, fmt.Errorf("identity: user of session %s: %w", sess.ID, err)
	}
	if ac.disabled {
		if err := a.Sessions.End(ctx, a.Users.DB, sess.ID, session.EndDisabled); err != nil {
			return Principal{}, err
		}
		if err := a.Audit.Record(ctx, nil, audit.Event{Type: "auth.session.end", Outcome: audit.Success, Actor: access.Actor{UserID: ac.ID, Role: ac.Role}, Category: "security", Action: "sign-in", Reason: session.EndDisabled}); err != nil {
			return Principal{}, err
		}
		return Principal{}, session.ErrEnded
	}
	if touch {
		if sess, err = a.Sessions.Touch(ctx, sess); err != nil {
			return Principal{}, err
		}
	}
	return Principal{User: ac.User, Session: sess}, nil
}

// Pending resolves the token of a sign-in waiting for its second factor.
func (a *Auth) Pending(ctx context.Context, token string) (session.Session, account, error) {
	sess, err := a.Sessions.Lookup(ctx, token)
	if err != nil {
		return session.Session{}, account{}, err
	}
	if sess.State != session.MFA {
		return session.Session{}, account{}, session.ErrEnded
	}
	ac, err := a.loadByID(ctx, sess.UserID)
	if err != nil {
		return session.Session{}, account{}, err
	}
	if ac.disabled || ac.adminLocked || a.Users.Clock.Now().Before(ac.lockedUntil) {
		a.Sessions.End(ctx, a.Users.DB, sess.ID, session.EndMFAFailed)
		return session.Session{}, account{}, ErrInvalidCredentials
	}
	return sess, ac, nil
}

// PendingMethods lists the factors a pending sign-in may use.
func (a *Auth) PendingMethods(ctx context.Context, token string) ([]string, error) {
	_, ac, err := a.Pending(ctx, token)
	return ac.methods(), err
}

// SecondFactor completes a pending sign-in with a TOTP or recovery code and
// returns the new token of the now active session.
func (a *Auth) SecondFactor(ctx context.Context, token, method, code string) (string, session.Session, error) {
	sess, ac, err := a.Pending(ctx, token)
	if err != nil {
		return "", session.Session{}, err
	}
	actor := access.Actor{UserID: ac.ID, Role: ac.Role, PatientID: ac.PatientID}
	if method != "totp" && method != "recovery" {
		return "", session.Session{}, fault.E(fault.Invalid, "Choose a way to confirm it's you: a code from your authenticator app, a passkey, or a recovery code.", nil)
	}
	if err := a.reserveAttempt(ctx, ac.ID); err != nil {
		a.Sessions.End(ctx, a.Users.DB, sess.ID, session.EndMFAFailed)
		return "", session.Session{}, err
	}
	var ok bool
	switch method {
	case "totp":
		ok, err = a.checkTOTP(ctx, ac.ID, code)
	case "recovery":
		ok, err = a.useRecoveryCode(ctx, ac.ID, code)
	default:
		return "", session.Session{}, fault.E(fault.Invalid, "Choose a way to confirm it's you: a code from your authenticator app, a passkey, or a recovery code.", nil)
	}
	if err != nil {
		return "", session.Session{}, err
	}
	if !ok {
		return "", session.Session{}, a.mfaFailed(ctx, sess, actor, method)
	}
	return a.complete(ctx, sess, actor, method)
}

// CompleteWithPasskey completes a pending sign-in after a passkey assertion
// verified for userID.
func (a *Auth) CompleteWithPasskey(ctx context.Context, token, userID string) (string, session.Session, error) {
	sess, ac, err := a.Pending(ctx, token)
	if err != nil {
		return "", session.Session{}, err
	}
	actor := access.Actor{UserID: ac.ID, Role: ac.Role, PatientID: ac.PatientID}
	if userID != ac.ID {
		return "", session.Session{}, a.mfaFailed(ctx, sess, actor, "webauthn")
	}
	return a.complete(ctx, sess, actor, "webauthn")
}

// mfaFailed handles a wrong second factor whose attempt was reserved.
func (a *Auth) mfaFailed(ctx context.Context, sess session.Session, actor access.Actor, method string) error {
	if err := a.attemptFailed(ctx, actor.UserID); err != nil {
		return err
	}
	n, err := a.Sessions.CountMFAFailure(ctx, sess.ID)
	if err != nil {
		return err
	}
	if err := a.Audit.Record(ctx, nil, audit.Event{Type: "auth.mfa", Outcome: "failure", Actor: actor, Category: "security", Action: "sign-in", Reason: method}); err != nil {
		return err
	}
	if n >= a.cfg.MaxMFAAttempts {
		if err := a.Sessions.End(ctx, a.Users.DB, sess.ID, session.EndMFAFailed); err != nil {
			return err
		}
		if err := a.Audit.Record(ctx, nil, audit.Event{Type: "auth.session.end", Outcome: audit.Success, Actor: actor, Category: "security", Action: "sign-in", Reason: session.EndMFAFailed}); err != nil {
			return err
		}
		return fault.E(fault.Unauthenticated, "Too many wrong codes. Please sign in again.", nil)
	}
	return ErrCode
}

func (a *Auth) complete(ctx context.Context, sess session.Session, actor access.Actor, method string) (string, session.Session, error) {
	tok, err := a.Sessions.Advance(ctx, a.Users.DB, sess.ID, session.Active)
	if err != nil {
		return "", session.Session{}, err
	}
	if err := a.succeeded(ctx, actor.UserID); err != nil {
		return "", session.Session{}, err
	}
	if err := a.Audit.Record(ctx, nil, audit.Event{Type: "auth.mfa", Outcome: audit.Success, Actor: actor, Category: "security", Action: "sign-in", Reason: method}); err != nil {
		return "", session.Session{}, err
	}
	s, err := a.Sessions.Lookup(ctx, tok)
	return tok, s, err
}

// checkTOTP verifies a code and spends its time step, atomically, so a code
// works once even when two nodes see it at the same moment.
func (a *Auth) checkTOTP(ctx context.Context, userID, code string) (bool, error) {
	var ct []byte
	if err := a.Users.DB.QueryRowContext(ctx, `SELECT totp_secret FROM users WHERE id = $1`, userID).Scan(&ct); err != nil {
		return false, err
	}
	if ct == nil {
		return false, nil
	}
	secret, err := a.Users.Keys.Decrypt(ctx, fieldOf(userID, "totp_secret"), ct)
	if err != nil {
		return false, err
	}
	step, ok := totpStep(string(secret), code, a.Users.Clock.Now())
	if !ok {
		return false, nil
	}
	res, err := a.Users.DB.ExecContext(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, userID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (a *Auth) useRecoveryCode(ctx context.Context, userID, code string) (bool, error) {
	if len(code) > 64 {
		return false, nil
	}
	res, err := a.Users.DB.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`,
		a.Users.Clock.Now().UnixMilli(), userID, hashRecovery(a.RecoveryKey, userID, code))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// CancelPending ends a sign-in that is waiting for its second factor (the
// "cancel and sign out" button).
func (a *Auth) CancelPending(ctx context.Context, token string) error {
	sess, ac, err := a.Pending(ctx, token)
	if err != nil {
		return nil // nothing pending: nothing to end
	}
	if err := a.Sessions.End(ctx, a.Users.DB, sess.ID, session.EndSignOut); err != nil {
		return err
	}
	return a.Audit.Record(ctx, nil, audit.Event{Type: "auth.session.end", Outcome: audit.Success, Actor: access.Actor{UserID: ac.ID, Role: ac.Role}, Category: "security", Action: "sign-in", Reason: session.EndSignOut})
}

// SignOut ends the session of token.
func (a *Auth) SignOut(ctx context.Context, p Principal) error {
	if err := a.Sessions.End(ctx, a.Users.DB, p.Session.ID, session.EndSignOut); err != nil {
		return err
	}
	return a.Audit.Record(ctx, nil, audit.Event{Type: "auth.session.end", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "sign-in", Reason: session.EndSignOut})
}
