package identity_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/identity"
	"uroportal/internal/keyring"
	"uroportal/internal/session"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

var cheap = identity.Argon2Params{MemoryKiB: 1024, Passes: 1, Threads: 1}

// notes records what would be emailed.
type notes struct {
	mu     sync.Mutex
	resets map[string]string // email → link
	signIn []string
}

func (n *notes) NewSignIn(_ context.Context, _ store.Querier, to string, _ time.Time, _ string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.signIn = append(n.signIn, to)
	return nil
}

func (n *notes) PasswordReset(_ context.Context, _ store.Querier, to, link string, _ time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.resets[to] = link
	return nil
}

type env struct {
	db    *store.DB
	clk   *clock.Fake
	keys  *keyring.Keyring
	auth  *identity.Auth
	notes *notes
	users map[string]identity.User
	pw    map[string]string
	totp  map[string]string
}

const practice = "Riverside Urology"

func newEnv(t *testing.T, db *store.DB, cfg identity.AuthConfig) *env {
	t.Helper()
	ctx := context.Background()
	raw := make([]byte, 32)
	rand.Read(raw)
	kek, _ := keyring.NewLocalKEK(raw)
	clk := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	keys, err := keyring.Open(ctx, db, kek, clk)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, clk: clk, keys: keys, notes: &notes{resets: map[string]string{}},
		users: map[string]identity.User{}, pw: map[string]string{}, totp: map[string]string{}}
	e.auth = e.node(t, cfg)
	people := []struct {
		key  string
		role access.Role
		totp bool
	}{{"patient", access.Patient, false}, {"nurse", access.Nurse, true}, {"newstaff", access.Clinician, false}, {"admin", access.Admin, true}}
	for _, p := range people {
		secret := ""
		if p.totp {
			secret = identity.NewTOTPSecret()
		}
		pw := "glacier orbit " + p.key + " lantern thimble"
		var u identity.User
		err := db.InTx(ctx, func(tx *sql.Tx) (err error) {
			u, err = e.auth.Users.Create(ctx, tx, identity.User{Email: p.key + "@example.org", Name: "Test " + p.key, Role: p.role}, pw, secret)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		e.users[p.key], e.pw[p.key], e.totp[p.key] = u, pw, secret
	}
	return e
}

// node builds another Auth over the same database: a second server.
func (e *env) node(t *testing.T, cfg identity.AuthConfig) *identity.Auth {
	t.Helper()
	users := &identity.Store{DB: e.db, Keys: e.keys, Clock: e.clk, Argon2: cheap}
	seed := make([]byte, 32)
	rand.Read(seed)
	signer, _ := audit.NewSigner(seed)
	a, err := identity.NewAuth(users, session.NewStore(e.db, e.keys, e.clk, session.Config{}), &audit.Log{DB: e.db, Clock: e.clk, Signer: signer},
		&identity.Throttle{DB: e.db, Clock: e.clk, Key: e.keys.DeriveKey("throttle")}, e.notes, e.keys.DeriveKey("recovery"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) code(t *testing.T, who string) string {
	t.Helper()
	c, err := identity.TOTPCode(e.totp[who], e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var web = identity.Client{IP: "203.0.113.9", UserAgent: "Firefox", Kind: session.Browser}

func TestPatientPasswordOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, identity.AuthConfig{})
		r, err := e.auth.Login(ctx, "  Patient@Example.org ", e.pw["patient"], web)
		if err != nil || r.Session.State != session.Active {
			t.Fatalf("patient sign-in: %+v %v", r.Session, err)
		}
		p, err := e.auth.Authenticate(ctx, r.Token)
		if err != nil || p.Actor().Role != access.Patient {
			t.Fatalf("Authenticate: %v", err)
		}
		if err := e.auth.SignOut(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := e.auth.Authenticate(ctx, r.Token); fault.KindOf(err) != fault.Unauthenticated {
			t.Fatalf("after sign-out: %v", err)
		}
	})
}

func TestStaffCannotFinishWithoutMFA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, identity.AuthConfig{})
		// No factor yet: signed in only to enroll one.
		r, err := e.auth.Login(ctx, "newstaff@example.org", e.pw["newstaff"], web)
		if err != nil || r.Session.State != session.Enroll {
			t.Fatalf("staff without a factor: %+v %v", r.Session, err)
		}
		// With a factor: the password alone gives no usable session.
		r, err = e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], web)
		if err != nil || r.Session.State != session.MFA || strings.Join(r.Methods, ",") != "totp,recovery" && strings.Join(r.Methods, ",") != "totp" {
			t.Fatalf("staff with TOTP: %+v %v %v", r.Session, r.Methods, err)
		}
		if _, err := e.auth.Authenticate(ctx, r.Token); err == nil {
			t.Fatal("a password-only session of a staff member was accepted")
		}
		code := e.code(t, "nurse")
		tok, s, err := e.auth.SecondFactor(ctx, r.Token, "totp", code)
		if err != nil || s.State != session.Active || tok == r.Token {
			t.Fatalf("TOTP: %v (state %s, same token %v)", err, s.State, tok == r.Token)
		}
		if _, err := e.auth.Authenticate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		// The same code a second time, in a new sign-in, is refused.
		r2, _ := e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], web)
		if _, _, err := e.auth.SecondFactor(ctx, r2.Token, "totp", code); !errors.Is(err, identity.ErrCode) {
			t.Fatalf("reused TOTP code: %v", err)
		}
		// The next step's code works.
		e.clk.Advance(30 * time.Second)
		if _, _, err := e.auth.SecondFactor(ctx, r2.Token, "totp", e.code(t, "nurse")); err != nil {
			t.Fatalf("next code: %v", err)
		}
	})
}

func TestEnrollTOTPAndRecoveryCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, identity.AuthConfig{})
		r, _ := e.auth.Login(ctx, "newstaff@example.org", e.pw["newstaff"], web)
		p, err := e.auth.Authenticate(ctx, r.Token)
		if err != nil {
			t.Fatal(err)
		}
		enr, err := e.auth.BeginTOTP(ctx, p, practice)
		if err != nil || !strings.HasPrefix(enr.QRPNG, "data:image/png;base64,") || !strings.HasPrefix(enr.URL, "otpauth://totp/") {
			t.Fatalf("BeginTOTP: %+v %v", enr, err)
		}
		if _, _, err := e.auth.ConfirmTOTP(ctx, p, "000000"); err == nil {
			t.Fatal("a wrong code confirmed enrollment")
		}
		code, _ := identity.TOTPCode(enr.Secret, e.clk.Now())
		codes, tok, err := e.auth.ConfirmTOTP(ctx, p, code)
		if err != nil || len(codes) != 10 || tok == "" {
			t.Fatalf("ConfirmTOTP: %d codes, token %q, %v", len(codes), tok, err)
		}
		if p2, err := e.auth.Authenticate(ctx, tok); err != nil || p2.Session.State != session.Active {
			t.Fatalf("after enrollment: %v", err)
		}
		var stored []byte
		db.QueryRowContext(ctx, `SELECT totp_secret FROM users WHERE id = $1`, p.User.ID).Scan(&stored)
		if strings.Contains(string(stored), enr.Secret) {
			t.Fatal("the TOTP secret is stored in plaintext")
		}
		// A recovery code works once.
		r, _ = e.auth.Login(ctx, "newstaff@example.org", e.pw["newstaff"], web)
		if _, _, err := e.auth.SecondFactor(ctx, r.Token, "recovery", strings.ToLower(codes[3])); err != nil {
			t.Fatalf("recovery code: %v", err)
		}
		r, _ = e.auth.Login(ctx, "newstaff@example.org", e.pw["newstaff"], web)
		if _, _, err := e.auth.SecondFactor(ctx, r.Token, "recovery", codes[3]); !errors.Is(err, identity.ErrCode) {
			t.Fatalf("recovery code used twice: %v", err)
		}
	})
}

func TestLockout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// A roomy per-address bucket: this test is about the account lock.
		cfg := identity.AuthConfig{PerIPAccount: identity.Bucket{Capacity: 100, Per: 1}}
		e := newEnv(t, db, cfg)
		other := e.node(t, cfg) // failures spread over two nodes still add up
		// Unknown account and wrong password: identical answers.
		_, unknown := e.auth.Login(ctx, "nobody@example.org", "whatever whatever whatever", web)
		for i := range 5 {
			node := e.auth
			if i%2 == 1 {
				node = other
			}
			_, err := node.Login(ctx, "patient@example.org", "wrong wrong wrong wrong", web)
			if err != unknown {
				t.Fatalf("failure %d: %v, want the same answer as for an unknown account (%v)", i+1, err, unknown)
			}
		}
		// The sixth try, with the right password, is refused the same way.
		if _, err := other.Login(ctx, "patient@example.org", e.pw["patient"], web); err != unknown {
			t.Fatalf("locked account: %v", err)
		}
		var reasons []string
		rows, _ := db.QueryContext(ctx, `SELECT reason FROM audit_events WHERE event_type IN ('auth.signin', 'auth.lockout') ORDER BY at, reason`)
		for rows.Next() {
			var r string
			rows.Scan(&r)
			reasons = append(reasons, r)
		}
		rows.Close()
		joined := strings.Join(reasons, ",")
		if !strings.Contains(joined, "unknown_account") || !strings.Contains(joined, "bad_password") || !strings.Contains(joined, "locked") {
			t.Fatalf("audit classes: %s", joined)
		}
		// The lock lifts after a minute.
		e.clk.Advance(61 * time.Second)
		if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
		// Locking again after a successful sign-in starts from a minute.
		for range 5 {
			e.auth.Login(ctx, "patient@example.org", "wrong wrong wrong wrong", web)
		}
		e.clk.Advance(59 * time.Second)
		if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err == nil {
			t.Fatal("the lock lifted early")
		}
		// A second lock in a row lasts two minutes.
		e.clk.Advance(2 * time.Second)
		for range 5 {
			e.auth.Login(ctx, "patient@example.org", "wrong wrong wrong wrong", web)
		}
		e.clk.Advance(90 * time.Second)
		if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err == nil {
			t.Fatal("the second lock was not longer")
		}
		e.clk.Advance(31 * time.Second)
		if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err != nil {
			t.Fatalf("after the doubled lock: %v", err)
		}
	})
}

func TestAdminOnlyUnlock(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	e := newEnv(t, db, identity.AuthConfig{Lockout: identity.LockoutPolicy{Threshold: 2, Base: time.Minute, Max: time.Hour, AdminAfter: 2}})
	for range 2 {
		for range 2 {
			e.auth.Login(ctx, "patient@example.org", "wrong wrong wrong wrong", web)
		}
		e.clk.Advance(3 * time.Minute)
	}
	e.clk.Advance(24 * time.Hour)
	if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err == nil {
		t.Fatal("an admin-locked account signed in")
	}
	if err := e.auth.AdminUnlock(ctx, access.Actor{UserID: e.users["nurse"].ID, Role: access.Nurse}, e.users["patient"].ID); err == nil {
		t.Fatal("a nurse unlocked an account")
	}
	if err := e.auth.AdminUnlock(ctx, access.Actor{UserID: e.users["admin"].ID, Role: access.Admin}, e.users["patient"].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err != nil {
		t.Fatalf("after admin unlock: %v", err)
	}
}

func TestThrottledBeforeHashing(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	e := newEnv(t, db, identity.AuthConfig{PerIPAccount: identity.Bucket{Capacity: 3, Per: 1.0 / 60}})
	for range 3 {
		e.auth.Login(ctx, "nobody@example.org", "guess guess guess guess", web)
	}
	_, err := e.auth.Login(ctx, "nobody@example.org", "guess guess guess guess", web)
	var rl *identity.RateLimitedError
	if fault.KindOf(err) != fault.RateLimited || !errors.As(err, &rl) || rl.RetryAfter() < time.Second {
		t.Fatalf("fourth try: %v", err)
	}
	// Another address is not affected.
	other := web
	other.IP = "203.0.113.10"
	if _, err := e.auth.Login(ctx, "nobody@example.org", "guess guess guess guess", other); fault.KindOf(err) != fault.Unauthenticated {
		t.Fatalf("other address: %v", err)
	}
}

func TestStaffNetworks(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	e := newEnv(t, db, identity.AuthConfig{StaffNetworks: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}})
	if _, err := e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], web); fault.KindOf(err) != fault.Forbidden {
		t.Fatalf("staff from outside: %v", err)
	}
	inside := web
	inside.IP = "10.20.3.4"
	if _, err := e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], inside); err != nil {
		t.Fatalf("staff from inside: %v", err)
	}
	if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err != nil {
		t.Fatalf("patients are not restricted: %v", err)
	}
}

func TestPasswordReset(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, identity.AuthConfig{})
		r, _ := e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], web)
		tok, _, _ := e.auth.SecondFactor(ctx, r.Token, "totp", e.code(t, "nurse"))
		for range 5 {
			e.auth.Login(ctx, "nurse@example.org", "wrong wrong wrong wrong", web)
		}
		if err := e.auth.RequestPasswordReset(ctx, "nurse@example.org", "https://portal.example/reset/", web); err != nil {
			t.Fatal(err)
		}
		if err := e.auth.RequestPasswordReset(ctx, "nobody@example.org", "https://portal.example/reset/", web); err != nil {
			t.Fatalf("reset for an unknown email must look the same: %v", err)
		}
		link := e.notes.resets["nurse@example.org"]
		token := strings.TrimPrefix(link, "https://portal.example/reset/")
		if link == "" || token == link || len(e.notes.resets) != 1 {
			t.Fatalf("reset mail: %v", e.notes.resets)
		}
		if err := e.auth.ResetPassword(ctx, token, "short", practice); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("weak new password: %v", err)
		}
		const next = "quartz meadow violin harbor"
		if err := e.auth.ResetPassword(ctx, token, next, practice); err != nil {
			t.Fatal(err)
		}
		if err := e.auth.ResetPassword(ctx, token, next+" again", practice); err == nil {
			t.Fatal("a reset link worked twice")
		}
		if _, err := e.auth.Authenticate(ctx, tok); err == nil {
			t.Fatal("the reset left an old session alive")
		}
		// The lock is lifted, but MFA is still asked for.
		r, err := e.auth.Login(ctx, "nurse@example.org", next, web)
		if err != nil || r.Session.State != session.MFA {
			t.Fatalf("after reset: %+v %v", r.Session, err)
		}
		// Links expire after 30 minutes.
		e.auth.RequestPasswordReset(ctx, "patient@example.org", "https://portal.example/reset/", web)
		e.clk.Advance(31 * time.Minute)
		if err := e.auth.ResetPassword(ctx, strings.TrimPrefix(e.notes.resets["patient@example.org"], "https://portal.example/reset/"), next, practice); err == nil {
			t.Fatal("an expired reset link worked")
		}
	})
}

func TestStepUpAndPasswordChange(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	e := newEnv(t, db, identity.AuthConfig{})
	r1, _ := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web)
	r2, _ := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web)
	p, _ := e.auth.Authenticate(ctx, r1.Token)
	e.clk.Advance(6 * time.Minute)
	p, _ = e.auth.Authenticate(ctx, r1.Token)
	if _, err := e.auth.ChangePassword(ctx, p, e.pw["patient"], "new long passphrase here", practice); !errors.Is(err, identity.ErrStepUp) {
		t.Fatalf("change without recent sign-in: %v", err)
	}
	if err := e.auth.Reauthenticate(ctx, p, e.pw["patient"], "", ""); err != nil {
		t.Fatal(err)
	}
	p, _ = e.auth.Authenticate(ctx, r1.Token)
	if _, err := e.auth.ChangePassword(ctx, p, e.pw["patient"], "Riverside Urology rocks forever", practice); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("password with the practice's name: %v", err)
	}
	tok, err := e.auth.ChangePassword(ctx, p, e.pw["patient"], "cobalt kettle sparrow dune", practice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Authenticate(ctx, r2.Token); err == nil {
		t.Fatal("another session survived the password change")
	}
	if _, err := e.auth.Authenticate(ctx, tok); err != nil {
		t.Fatalf("the changing session: %v", err)
	}
}

func TestDisableEndsSessions(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	e := newEnv(t, db, identity.AuthConfig{})
	r, _ := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web)
	admin := access.Actor{UserID: e.users["admin"].ID, Role: access.Admin}
	if err := e.auth.SetDisabled(ctx, admin, e.users["patient"].ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Authenticate(ctx, r.Token); err == nil {
		t.Fatal("a disabled user's session still works")
	}
	if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err != identity.ErrInvalidCredentials {
		t.Fatalf("disabled sign-in: %v", err)
	}
	e.auth.SetDisabled(ctx, admin, e.users["patient"].ID, false)
	if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err != nil {
		t.Fatalf("re-enabled: %v", err)
	}
}

func TestChangeEmail(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	e := newEnv(t, db, identity.AuthConfig{})
	r, _ := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web)
	p, _ := e.auth.Authenticate(ctx, r.Token)
	if err := e.auth.ChangeEmail(ctx, p, "nurse@example.org"); fault.KindOf(err) != fault.Conflict {
		t.Fatalf("taken email: %v", err)
	}
	if err := e.auth.ChangeEmail(ctx, p, "New.Address@Example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Login(ctx, "new.address@example.org", e.pw["patient"], web); err != nil {
		t.Fatalf("sign in with the new email: %v", err)
	}
	if _, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web); err == nil {
		t.Fatal("the old email still signs in")
	}
	e.clk.Advance(6 * time.Minute)
	p, _ = e.auth.Authenticate(ctx, r.Token)
	if err := e.auth.ChangeEmail(ctx, p, "third@example.org"); !errors.Is(err, identity.ErrStepUp) {
		t.Fatalf("change without recent sign-in: %v", err)
	}
}

// Parallel guesses cannot outrun the lockout: at most the threshold of them
// are checked, and a right code in the burst does not get in once locked.
func TestParallelSecondFactorGuesses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cfg := identity.AuthConfig{PerIPAccount: identity.Bucket{Capacity: 1000, Per: 1}, PerIP: identity.Bucket{Capacity: 1000, Per: 1}}
		e := newEnv(t, db, cfg)
		var tokens []string
		for range 40 {
			r, err := e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], web)
			if err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, r.Token)
		}
		var mu sync.Mutex
		checked := 0
		var wg sync.WaitGroup
		for _, tok := range tokens {
			wg.Go(func() {
				_, _, err := e.auth.SecondFactor(ctx, tok, "totp", "000000")
				if errors.Is(err, identity.ErrCode) {
					mu.Lock()
					checked++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if checked > 5 {
			t.Fatalf("%d wrong codes were checked; the lockout allows 5", checked)
		}
		r, err := e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], web)
		if err == nil {
			if _, _, err := e.auth.SecondFactor(ctx, r.Token, "totp", e.code(t, "nurse")); err == nil {
				t.Fatal("the right code got in on a locked account")
			}
		}
	})
}

func TestActivationTriesAreSharedByParallelGuesses(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	cfg := identity.AuthConfig{PerIPAccount: identity.Bucket{Capacity: 1000, Per: 1}, PerIP: identity.Bucket{Capacity: 1000, Per: 1}}
	e := newEnv(t, db, cfg)
	db.ExecContext(ctx, `INSERT INTO patients (id, mrn_index, mrn, family_name, given_name, birth_date, sex, address, phone, email, created_at, updated_at)
		VALUES ('pX', $1, $2, $2, $2, $2, $2, $2, $2, $2, 0, 0)`, []byte("pX"), []byte("x"))
	var mu sync.Mutex
	checks := 0
	e.auth.MatchPatient = func(context.Context, string, string, string) (string, bool, error) {
		mu.Lock()
		checks++
		mu.Unlock()
		return "", false, nil
	}
	fd := access.Actor{UserID: e.users["admin"].ID, Role: access.FrontDesk}
	d, err := access.New(db, e.clk).Decide(ctx, fd, access.Update, access.Demographics, "pX")
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := e.auth.IssueActivation(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			e.auth.Activate(ctx, identity.Activation{Code: code, BirthDate: "1900-01-01", FamilyName: "Nobody", Email: "x@example.org", Password: "long enough password here"}, web)
		})
	}
	wg.Wait()
	if checks > identity.MaxActivationTries {
		t.Fatalf("%d identity checks for one code; at most %d", checks, identity.MaxActivationTries)
	}
}

func TestReenrollNeedsRecentProof(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	e := newEnv(t, db, identity.AuthConfig{})
	r, _ := e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], web)
	tok, _, _ := e.auth.SecondFactor(ctx, r.Token, "totp", e.code(t, "nurse"))
	p, _ := e.auth.Authenticate(ctx, tok)
	if _, err := e.auth.BeginTOTP(ctx, p, practice); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(20 * time.Minute)
	p, _ = e.auth.Authenticate(ctx, tok)
	if _, err := e.auth.PendingTOTP(ctx, p, practice); !errors.Is(err, identity.ErrStepUp) {
		t.Fatalf("PendingTOTP without a recent proof: %v", err)
	}
	if _, _, err := e.auth.ConfirmTOTP(ctx, p, "123456"); !errors.Is(err, identity.ErrStepUp) {
		t.Fatalf("ConfirmTOTP without a recent proof: %v", err)
	}
}

func TestReauthenticateRespectsLock(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	e := newEnv(t, db, identity.AuthConfig{PerIPAccount: identity.Bucket{Capacity: 1000, Per: 1}})
	r, _ := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web)
	p, _ := e.auth.Authenticate(ctx, r.Token)
	for range 5 {
		e.auth.Reauthenticate(ctx, p, "wrong wrong wrong wrong", "", "")
	}
	if err := e.auth.Reauthenticate(ctx, p, e.pw["patient"], "", ""); err == nil {
		t.Fatal("re-authentication succeeded on a locked account")
	}
}
