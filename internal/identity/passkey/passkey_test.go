package passkey_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/identity/passkey"
	"uroportal/internal/identity/passkey/passkeytest"
	"uroportal/internal/keyring"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

const (
	rpID   = "portal.example.org"
	origin = "https://portal.example.org"

	msgUse     = "That passkey could not be used. Try again, or use your authenticator app."
	msgExpired = "That passkey request has expired or was already used. Start again."
	msgStaffUV = "Staff accounts need a passkey that checks your PIN, fingerprint or face. Try again with one that does."
)

// env is a passkey service on a fresh database, with a fake clock and the
// accounts the test made.
type env struct {
	t     testing.TB
	ctx   context.Context
	db    *store.DB
	clk   *clock.Fake
	keys  *keyring.Keyring
	svc   *passkey.Service
	staff map[string]bool
}

func newEnv(t testing.TB, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	kekBytes := make([]byte, 32)
	rand.Read(kekBytes)
	kek, err := keyring.NewLocalKEK(kekBytes)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.Open(ctx, db, kek, clk)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := passkey.New(passkey.Config{RPID: rpID, RPDisplayName: "Uroportal", RPOrigins: []string{origin}}, db, keys, clk)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, db: db, clk: clk, keys: keys, svc: svc, staff: map[string]bool{}}
}

// user inserts an account row with the columns the users table requires.
func (e *env) user(staff bool) passkey.User {
	e.t.Helper()
	id := uuid.NewString()
	role := "patient"
	if staff {
		role = "clinician"
	}
	idx := make([]byte, 32)
	rand.Read(idx)
	_, err := e.db.ExecContext(e.ctx, `INSERT INTO users (id, email_index, email, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, idx, []byte("sealed elsewhere"), []byte("sealed elsewhere"), role, "unused", e.clk.Now().UnixMilli())
	if err != nil {
		e.t.Fatalf("insert user: %v", err)
	}
	e.staff[id] = staff
	return passkey.User{ID: id, Email: id[:8] + "@example.org", Name: "Test Person", Staff: staff}
}

func (e *env) isStaff(userID string) (bool, error) {
	staff, ok := e.staff[userID]
	if !ok {
		return false, errors.New("unknown user")
	}
	return staff, nil
}

// register runs a whole registration with authenticator a.
func (e *env) register(a *passkeytest.Authenticator, u passkey.User) (string, error) {
	e.t.Helper()
	opts, cid, err := e.svc.BeginRegistration(e.ctx, u)
	if err != nil {
		e.t.Fatalf("begin registration: %v", err)
	}
	resp, err := a.Create(opts)
	if err != nil {
		e.t.Fatalf("authenticator create: %v", err)
	}
	return e.svc.FinishRegistration(e.ctx, u, cid, "Work laptop", resp)
}

// login runs a whole sign-in with authenticator a.
func (e *env) login(a *passkeytest.Authenticator) (string, error) {
	e.t.Helper()
	opts, cid, err := e.svc.BeginLogin(e.ctx)
	if err != nil {
		e.t.Fatalf("begin login: %v", err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		e.t.Fatalf("authenticator get: %v", err)
	}
	return e.svc.FinishLogin(e.ctx, cid, resp, e.isStaff)
}

// mustRefuse checks err is a fault of kind with the safe message msg.
func mustRefuse(t *testing.T, err error, kind fault.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted; want refused")
	}
	t.Logf("refused: %v", err)
	if got := fault.KindOf(err); got != kind {
		t.Errorf("kind = %v, want %v (%v)", got, kind, err)
	}
	if got := fault.Message(err); got != msg {
		t.Errorf("message = %q, want %q", got, msg)
	}
}

func mustRegister(t *testing.T, e *env, a *passkeytest.Authenticator, u passkey.User) string {
	t.Helper()
	id, err := e.register(a, u)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return id
}

func TestRegisterThenSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		other := e.user(false)
		a := passkeytest.New(origin)
		pid := mustRegister(t, e, a, u)
		mustRegister(t, e, passkeytest.New(origin), other)

		for i := range 3 {
			e.clk.Advance(time.Minute)
			got, err := e.login(a)
			if err != nil {
				t.Fatalf("sign-in %d: %v", i, err)
			}
			if got != u.ID {
				t.Fatalf("sign-in %d returned user %q, want %q", i, got, u.ID)
			}
		}

		list, err := e.svc.List(e.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != pid || list[0].Name != "Work laptop" || !list[0].UserVerified {
			t.Fatalf("List = %+v", list)
		}
		if !list[0].LastUsedAt.Equal(e.clk.Now().Truncate(time.Millisecond)) {
			t.Errorf("LastUsedAt = %v, want %v", list[0].LastUsedAt, e.clk.Now())
		}
		var count int64
		if err := db.QueryRowContext(e.ctx, `SELECT sign_count FROM passkeys WHERE id = $1`, pid).Scan(&count); err != nil || count != 3 {
			t.Errorf("sign_count = %d, %v; want 3", count, err)
		}
	})
}

func TestCreationOptions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		for _, staff := range []bool{false, true} {
			u := e.user(staff)
			opts, _, err := e.svc.BeginRegistration(e.ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			var o struct {
				PublicKey struct {
					User struct {
						ID, Name string
					}
					AuthenticatorSelection struct {
						ResidentKey      string
						UserVerification string
					}
					ExcludeCredentials []json.RawMessage
				}
			}
			if err := json.Unmarshal(opts, &o); err != nil {
				t.Fatal(err)
			}
			want := "preferred"
			if staff {
				want = "required"
			}
			sel := o.PublicKey.AuthenticatorSelection
			if sel.UserVerification != want || sel.ResidentKey != "required" {
				t.Errorf("staff=%v: authenticatorSelection = %+v, want userVerification %s, residentKey required", staff, sel, want)
			}
			handle, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
			if err != nil || len(handle) != 32 {
				t.Errorf("user.id = %q: want a 32-byte base64url handle", o.PublicKey.User.ID)
			}
			id := uuid.MustParse(u.ID)
			if bytes.Contains(handle, []byte(u.ID)) || bytes.Contains(handle, []byte(u.Email)) || bytes.Contains(handle, id[:]) {
				t.Errorf("user handle reveals the account")
			}
		}
	})
}

func TestExistingPasskeyExcluded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)
		mustRegister(t, e, a, u)
		opts, _, err := e.svc.BeginRegistration(e.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Create(opts); err == nil || !strings.Contains(err.Error(), "InvalidStateError") {
			t.Fatalf("the same authenticator registered twice (err %v); the options should exclude it", err)
		}
		mustRegister(t, e, passkeytest.New(origin), u) // a second authenticator is fine
		if list, _ := e.svc.List(e.ctx, u.ID); len(list) != 2 {
			t.Fatalf("List has %d passkeys, want 2", len(list))
		}
	})
}

func TestStaffNeedUserVerification(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		staff := e.user(true)

		noUV := passkeytest.New(origin)
		noUV.UV = false
		_, err := e.register(noUV, staff)
		mustRefuse(t, err, fault.Invalid, msgStaffUV)
		if list, _ := e.svc.List(e.ctx, staff.ID); len(list) != 0 {
			t.Fatalf("a passkey without user verification was stored for staff: %+v", list)
		}

		a := passkeytest.New(origin)
		mustRegister(t, e, a, staff)
		a.UV = false
		_, err = e.login(a)
		mustRefuse(t, err, fault.Unauthenticated, msgUse)

		a.UV = true
		if got, err := e.login(a); err != nil || got != staff.ID {
			t.Fatalf("staff sign-in with UV = %q, %v", got, err)
		}
	})
}

func TestUnknownStaffStatusRequiresUV(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)
		a.UV = false
		mustRegister(t, e, a, u)
		opts, cid, _ := e.svc.BeginLogin(e.ctx)
		resp, _ := a.Get(opts)
		_, err := e.svc.FinishLogin(e.ctx, cid, resp, nil)
		mustRefuse(t, err, fault.Unauthenticated, msgUse)

		opts, cid, _ = e.svc.BeginLogin(e.ctx)
		resp, _ = a.Get(opts)
		_, err = e.svc.FinishLogin(e.ctx, cid, resp, func(string) (bool, error) { return false, errors.New("directory down") })
		if err == nil || fault.KindOf(err) != fault.Internal {
			t.Fatalf("isStaff failing: err = %v, want an internal refusal", err)
		}
	})
}

func TestPatientWithoutUVAllowed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)
		a.UV = false
		mustRegister(t, e, a, u)
		if got, err := e.login(a); err != nil || got != u.ID {
			t.Fatalf("patient sign-in without UV = %q, %v", got, err)
		}
		if list, _ := e.svc.List(e.ctx, u.ID); len(list) != 1 || list[0].UserVerified {
			t.Fatalf("List = %+v, want one passkey without UV", list)
		}
	})
}

func TestWrongOriginRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		phish := passkeytest.New("https://portal.example.org.evil.example")
		_, err := e.register(phish, u)
		mustRefuse(t, err, fault.Invalid, "That passkey could not be added. Try again, or use your authenticator app.")

		a := passkeytest.New(origin)
		mustRegister(t, e, a, u)
		a.Origin = "https://evil.example"
		_, err = e.login(a)
		mustRefuse(t, err, fault.Unauthenticated, msgUse)
	})
}

func TestCeremonySingleUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)

		// Registration: a failed finish spends the ceremony too.
		opts, cid, err := e.svc.BeginRegistration(e.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		a.Origin = "https://evil.example"
		bad, _ := a.Create(opts)
		if _, err := e.svc.FinishRegistration(e.ctx, u, cid, "", bad); err == nil {
			t.Fatal("wrong origin accepted")
		}
		a.Origin = origin
		good, _ := a.Create(opts)
		_, err = e.svc.FinishRegistration(e.ctx, u, cid, "", good)
		mustRefuse(t, err, fault.Invalid, msgExpired)

		// A successful finish spends it as well.
		opts, cid, _ = e.svc.BeginRegistration(e.ctx, u)
		resp, _ := a.Create(opts)
		if _, err := e.svc.FinishRegistration(e.ctx, u, cid, "", resp); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.FinishRegistration(e.ctx, u, cid, "", resp)
		mustRefuse(t, err, fault.Invalid, msgExpired)

		// Sign-in: the same assertion posted twice.
		opts, cid, _ = e.svc.BeginLogin(e.ctx)
		resp, _ = a.Get(opts)
		if _, err := e.svc.FinishLogin(e.ctx, cid, resp, e.isStaff); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.FinishLogin(e.ctx, cid, resp, e.isStaff)
		mustRefuse(t, err, fault.Unauthenticated, msgExpired)

		// A registration ceremony does not serve as a sign-in one.
		_, rcid, _ := e.svc.BeginRegistration(e.ctx, u)
		_, err = e.svc.FinishLogin(e.ctx, rcid, resp, e.isStaff)
		mustRefuse(t, err, fault.Unauthenticated, msgExpired)

		var n int
		db.QueryRowContext(e.ctx, `SELECT count(*) FROM webauthn_ceremonies WHERE id = $1`, cid).Scan(&n)
		if n != 0 {
			t.Errorf("finished ceremony still stored")
		}
	})
}

func TestCeremonyExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)

		opts, cid, _ := e.svc.BeginRegistration(e.ctx, u)
		resp, _ := a.Create(opts)
		e.clk.Advance(passkey.DefaultTimeout)
		_, err := e.svc.FinishRegistration(e.ctx, u, cid, "", resp)
		mustRefuse(t, err, fault.Invalid, msgExpired)

		mustRegister(t, e, a, u)
		opts, cid, _ = e.svc.BeginLogin(e.ctx)
		resp, _ = a.Get(opts)
		e.clk.Advance(passkey.DefaultTimeout - time.Millisecond)
		if _, err := e.svc.FinishLogin(e.ctx, cid, resp, e.isStaff); err != nil {
			t.Fatalf("sign-in just inside the timeout: %v", err)
		}
		opts, cid, _ = e.svc.BeginLogin(e.ctx)
		resp, _ = a.Get(opts)
		e.clk.Advance(passkey.DefaultTimeout)
		_, err = e.svc.FinishLogin(e.ctx, cid, resp, e.isStaff)
		mustRefuse(t, err, fault.Unauthenticated, msgExpired)

		// Beginning a ceremony clears the expired ones.
		e.svc.BeginLogin(e.ctx)
		var n int
		db.QueryRowContext(e.ctx, `SELECT count(*) FROM webauthn_ceremonies WHERE expires_at <= $1`, e.clk.Now().UnixMilli()).Scan(&n)
		if n != 0 {
			t.Errorf("%d expired ceremonies left", n)
		}
	})
}

func TestClonedAuthenticatorRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)
		mustRegister(t, e, a, u)
		clone := a.Clone()
		for range 2 {
			if _, err := e.login(a); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.login(clone) // its counter says 1; the portal has seen 2
		mustRefuse(t, err, fault.Unauthenticated, msgUse)

		// A replayed (old) counter on the original is refused the same way.
		a.Credentials()[0].SignCount = 0 // next use signs with 1
		_, err = e.login(a)
		mustRefuse(t, err, fault.Unauthenticated, msgUse)

		_, err = e.login(a) // 2 again: not past the 2 already seen
		mustRefuse(t, err, fault.Unauthenticated, msgUse)
		if got, err := e.login(a); err != nil || got != u.ID { // 3: moves on
			t.Fatalf("sign-in with an advancing counter = %q, %v", got, err)
		}
	})
}

func TestZeroCounterAuthenticator(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)
		a.NoCounter, a.BackupEligible, a.BackupState = true, true, true // a synced passkey
		mustRegister(t, e, a, u)
		for range 3 {
			if got, err := e.login(a); err != nil || got != u.ID {
				t.Fatalf("synced passkey sign-in = %q, %v", got, err)
			}
		}
		if list, _ := e.svc.List(e.ctx, u.ID); len(list) != 1 || !list[0].Synced || !list[0].BackupEligible {
			t.Fatalf("List = %+v, want one synced passkey", list)
		}
	})
}

func TestOtherUsersRegistrationCeremony(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice, mallory := e.user(false), e.user(false)
		opts, cid, err := e.svc.BeginRegistration(e.ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		evil := passkeytest.New(origin)
		resp, _ := evil.Create(opts)
		_, err = e.svc.FinishRegistration(e.ctx, mallory, cid, "", resp)
		mustRefuse(t, err, fault.Invalid, msgExpired)
		if list, _ := e.svc.List(e.ctx, mallory.ID); len(list) != 0 {
			t.Fatal("passkey stored for the wrong user")
		}
		// Alice's ceremony was neither finished nor spent by the attempt.
		a := passkeytest.New(origin)
		resp, _ = a.Create(opts)
		if _, err := e.svc.FinishRegistration(e.ctx, alice, cid, "", resp); err != nil {
			t.Fatalf("alice's own finish: %v", err)
		}
	})
}

func TestStoredDataIsCiphertext(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)
		pid := mustRegister(t, e, a, u)

		ropts, rcid, _ := e.svc.BeginRegistration(e.ctx, u)
		lopts, lcid, _ := e.svc.BeginLogin(e.ctx)
		for _, c := range []struct {
			id   string
			opts []byte
		}{{rcid, ropts}, {lcid, lopts}} {
			var o struct{ PublicKey struct{ Challenge string } }
			json.Unmarshal(c.opts, &o)
			var data []byte
			if err := db.QueryRowContext(e.ctx, `SELECT data FROM webauthn_ceremonies WHERE id = $1`, c.id).Scan(&data); err != nil {
				t.Fatal(err)
			}
			if _, err := keyring.Version(data); err != nil {
				t.Errorf("ceremony data is not a keyring ciphertext: %v", err)
			}
			if json.Valid(data) || bytes.Contains(data, []byte(o.PublicKey.Challenge)) || bytes.Contains(data, []byte("challenge")) {
				t.Errorf("ceremony data holds plaintext")
			}
		}

		rawID := a.Credentials()[0].ID
		var credID, pub, name []byte
		if err := db.QueryRowContext(e.ctx, `SELECT credential_id, public_key, name FROM passkeys WHERE id = $1`, pid).Scan(&credID, &pub, &name); err != nil {
			t.Fatal(err)
		}
		for col, ct := range map[string][]byte{"credential_id": credID, "public_key": pub, "name": name} {
			if _, err := keyring.Version(ct); err != nil {
				t.Errorf("%s is not a keyring ciphertext: %v", col, err)
			}
		}
		var n int
		db.QueryRowContext(e.ctx, `SELECT count(*) FROM passkeys WHERE credential_id_index = $1 OR credential_id = $1`, rawID).Scan(&n)
		if n != 0 || bytes.Contains(name, []byte("Work laptop")) {
			t.Errorf("credential ID or name stored in plaintext")
		}
	})
}

func TestMovedPasskeyRefused(t *testing.T) {
	// Someone who can write to the database but lacks the keys moves a
	// passkey to another account: the sealed public key names its owner.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		attacker, victim := e.user(false), e.user(true)
		a := passkeytest.New(origin)
		pid := mustRegister(t, e, a, attacker)
		if _, err := db.ExecContext(e.ctx, `UPDATE passkeys SET user_id = $1 WHERE id = $2`, victim.ID, pid); err != nil {
			t.Fatal(err)
		}
		_, err := e.login(a)
		mustRefuse(t, err, fault.Unauthenticated, msgUse)
	})
}

func TestDisabledAccountRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)
		mustRegister(t, e, a, u)
		db.ExecContext(e.ctx, `UPDATE users SET disabled_at = $1 WHERE id = $2`, e.clk.Now().UnixMilli(), u.ID)
		_, err := e.login(a)
		mustRefuse(t, err, fault.Unauthenticated, msgUse)
	})
}

func TestRemove(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u, other := e.user(false), e.user(false)
		a := passkeytest.New(origin)
		pid := mustRegister(t, e, a, u)

		err := e.svc.Remove(e.ctx, other.ID, pid)
		mustRefuse(t, err, fault.NotFound, "That passkey was not found. It may have been removed already.")
		if err := e.svc.Remove(e.ctx, u.ID, pid); err != nil {
			t.Fatal(err)
		}
		if list, _ := e.svc.List(e.ctx, u.ID); len(list) != 0 {
			t.Fatalf("List after Remove = %+v", list)
		}
		_, err = e.login(a)
		mustRefuse(t, err, fault.Unauthenticated, msgUse)
	})
}

func TestNameChecked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)
		opts, cid, _ := e.svc.BeginRegistration(e.ctx, u)
		resp, _ := a.Create(opts)
		_, err := e.svc.FinishRegistration(e.ctx, u, cid, strings.Repeat("x", 65), resp)
		if fault.KindOf(err) != fault.Invalid {
			t.Fatalf("65-character name: %v", err)
		}
		// A bad name does not spend the ceremony; the same response goes
		// through with a good one.
		if _, err := e.svc.FinishRegistration(e.ctx, u, cid, "  Phone  ", resp); err != nil {
			t.Fatal(err)
		}
		if list, _ := e.svc.List(e.ctx, u.ID); len(list) != 1 || list[0].Name != "Phone" {
			t.Fatalf("List = %+v", list)
		}
	})
}

func TestRewrapKeepsPasskeysWorking(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		a := passkeytest.New(origin)
		mustRegister(t, e, a, u)
		opts, cid, _ := e.svc.BeginLogin(e.ctx)
		if _, err := e.keys.Rotate(e.ctx); err != nil {
			t.Fatal(err)
		}
		n, err := e.keys.Rewrap(e.ctx, passkey.EncryptedTables, keyring.RewrapOptions{Pause: time.Nanosecond})
		if err != nil || n != 4 {
			t.Fatalf("rewrap = %d, %v; want 4 fields (3 passkey columns, 1 ceremony)", n, err)
		}
		resp, _ := a.Get(opts)
		if got, err := e.svc.FinishLogin(e.ctx, cid, resp, e.isStaff); err != nil || got != u.ID {
			t.Fatalf("sign-in after rewrap = %q, %v", got, err)
		}
	})
}

func TestGarbageResponsesRefusedSafely(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := e.user(false)
		for _, body := range []string{"", "{}", "null", `{"id":"AA","rawId":"AA","type":"public-key","response":{}}`, strings.Repeat("[", 100000)} {
			_, cid, _ := e.svc.BeginRegistration(e.ctx, u)
			_, err := e.svc.FinishRegistration(e.ctx, u, cid, "", []byte(body))
			mustRefuse(t, err, fault.Invalid, "That passkey could not be added. Try again, or use your authenticator app.")
			_, cid, _ = e.svc.BeginLogin(e.ctx)
			_, err = e.svc.FinishLogin(e.ctx, cid, []byte(body), e.isStaff)
			mustRefuse(t, err, fault.Unauthenticated, msgUse)
		}
	})
}

func TestConfigChecked(t *testing.T) {
	for _, cfg := range []passkey.Config{
		{RPDisplayName: "Uroportal", RPOrigins: []string{origin}},
		{RPID: rpID, RPOrigins: []string{origin}},
		{RPID: rpID, RPDisplayName: "Uroportal"},
		{RPID: "127.0.0.1", RPDisplayName: "Uroportal", RPOrigins: []string{"https://127.0.0.1"}},
		{RPID: rpID, RPDisplayName: "Uroportal", RPOrigins: []string{origin}, Timeout: -time.Second},
	} {
		if _, err := passkey.New(cfg, nil, nil, clock.Real{}); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// FuzzFinishLogin posts arbitrary bytes as a sign-in response: never a
// panic, never a sign-in, always a safe refusal.
func FuzzFinishLogin(f *testing.F) {
	e := newEnv(f, storetest.MustOpen(f, store.SQLite))
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, cid, err := e.svc.BeginLogin(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.svc.FinishLogin(e.ctx, cid, body, e.isStaff)
		if err == nil || id != "" {
			t.Fatalf("arbitrary bytes signed in as %q", id)
		}
		if msg := fault.Message(err); msg != msgUse {
			t.Fatalf("message %q", msg)
		}
	})
}
