package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"uroportal/internal/identity/passkey/passkeytest"
)

// A staff member registers a passkey and then uses it as the second step of
// sign-in, through /api/v1 with a software authenticator.
func TestPasskeyRegisterAndSignIn(t *testing.T) {
	cfg := demoConfig(t, "")
	base, stop := startReal(t, cfg)
	defer stop()
	origin := "https://localhost:0" // cfg.Public() for a loopback server
	nurse := findLogin(t, cfg.DataDir, "nurse")
	tok := apiSignIn(t, base, nurse) // a fresh sign-in counts as recent
	st, begin, raw := apiCall(t, "POST", base+"/api/v1/account/passkeys/begin", tok, map[string]any{})
	if st != 200 {
		t.Fatalf("begin: %d %s", st, raw)
	}
	opts, _ := json.Marshal(begin["options"])
	if !strings.Contains(string(opts), `"userVerification":"required"`) {
		t.Fatalf("staff registration does not require user verification: %s", opts)
	}
	auth := passkeytest.New(origin)
	cred, err := auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, _, raw = apiCall(t, "POST", base+"/api/v1/account/passkeys/finish", tok, map[string]any{"ceremony": begin["ceremony"], "name": "Ward laptop", "credential": json.RawMessage(cred)})
	if st != 200 {
		t.Fatalf("finish: %d %s", st, raw)
	}

	// Sign in again: password, then the passkey instead of a code.
	st, m, raw := apiCall(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": nurse.Email, "password": nurse.Password})
	if st != 200 || !strings.Contains(raw, "webauthn") {
		t.Fatalf("login: %d %s", st, raw)
	}
	mfa := m["mfa_token"].(string)
	st, begin, raw = apiCall(t, "POST", base+"/api/v1/auth/passkey/begin", "", map[string]any{"mfa_token": mfa})
	if st != 200 {
		t.Fatalf("sign-in begin: %d %s", st, raw)
	}
	opts, _ = json.Marshal(begin["options"])
	assertion, err := auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, done, raw := apiCall(t, "POST", base+"/api/v1/auth/passkey/finish", "", map[string]any{"mfa_token": mfa, "ceremony": begin["ceremony"], "credential": json.RawMessage(assertion)})
	if st != 200 || done["token"] == nil {
		t.Fatalf("sign-in finish: %d %s", st, raw)
	}
	if st, me, _ := apiCall(t, "GET", base+"/api/v1/me", done["token"].(string), nil); st != 200 || me["role"] != "nurse" {
		t.Fatalf("me: %d", st)
	}
	// The same assertion again is refused (single-use ceremony).
	if st, _, _ := apiCall(t, "POST", base+"/api/v1/auth/passkey/finish", "", map[string]any{"mfa_token": mfa, "ceremony": begin["ceremony"], "credential": json.RawMessage(assertion)}); st == 200 {
		t.Fatal("a passkey assertion worked twice")
	}
	// Without the password step there is no pending sign-in to complete.
	if st, _, _ := apiCall(t, "POST", base+"/api/v1/auth/passkey/begin", "", map[string]any{"mfa_token": "made-up"}); st != 401 {
		t.Fatalf("begin without a pending sign-in: %d", st)
	}
}
