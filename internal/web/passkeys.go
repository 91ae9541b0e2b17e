package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"uroportal/internal/fault"
	"uroportal/internal/identity"
	"uroportal/internal/identity/passkey"
	"uroportal/internal/session"
)

type passkeysPage struct {
	Passkeys []passkey.Info
	Required bool
	Notice   string
}

func (s *Server) passkeysPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.enrolling(r)
	if err != nil {
		return err
	}
	list, err := s.auth.ListPasskeys(r.Context(), p)
	if err != nil {
		return err
	}
	page := passkeysPage{Passkeys: list, Required: p.Session.State == session.Enroll}
	if r.URL.Query().Get("notice") == "removed" {
		page.Notice = "The passkey was removed."
	}
	return s.pages.render(w, r, http.StatusOK, "passkeys", "Passkeys", page)
}

func (s *Server) removePasskey(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	err = s.auth.RemovePasskey(r.Context(), p, r.PathValue("id"))
	if errors.Is(err, identity.ErrStepUp) {
		stepUp(w, r, "/account/passkeys")
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/account/passkeys?notice=removed", http.StatusSeeOther)
	return nil
}

// The passkey ceremonies are JSON calls from static/passkey.js (or any API
// client). Browser calls carry the session cookie and the CSRF header.

type ceremonyJSON struct {
	Ceremony string          `json:"ceremony"`
	Options  json.RawMessage `json:"options"`
}

func (s *Server) apiPasskeyBegin(w http.ResponseWriter, r *http.Request) error {
	p, ok := principalFrom(r.Context())
	if !ok {
		return errSignIn
	}
	opts, id, err := s.auth.BeginPasskey(r.Context(), p)
	if errors.Is(err, identity.ErrStepUp) {
		return withCode(err, "step_up_required")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ceremonyJSON{Ceremony: id, Options: opts})
}

func (s *Server) apiPasskeyFinish(w http.ResponseWriter, r *http.Request) error {
	p, ok := principalFrom(r.Context())
	if !ok {
		return errSignIn
	}
	var in struct {
		Ceremony   string          `json:"ceremony"`
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	codes, tok, err := s.auth.FinishPasskey(r.Context(), p, in.Ceremony, in.Name, in.Credential)
	if err != nil {
		return err
	}
	if tok != "" {
		if _, bearer := requestToken(r); bearer {
			return writeJSON(w, http.StatusOK, map[string]any{"token": tok, "recovery_codes": codes})
		}
		setSessionCookie(w, tok)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes, "redirect": "/account/passkeys"})
}

// pendingToken is the token of a sign-in waiting for its second factor: the
// API client's mfa_token, or the browser's cookie.
func pendingToken(r *http.Request, body string) string {
	if body != "" {
		return body
	}
	t, _ := requestToken(r)
	return t
}

func (s *Server) apiPasskeySignInBegin(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		MFAToken string `json:"mfa_token"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	opts, id, err := s.auth.BeginPasskeySignIn(r.Context(), pendingToken(r, in.MFAToken))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ceremonyJSON{Ceremony: id, Options: opts})
}

func (s *Server) apiPasskeySignInFinish(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		MFAToken   string          `json:"mfa_token"`
		Ceremony   string          `json:"ceremony"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	tok, sess, err := s.auth.FinishPasskeySignIn(r.Context(), pendingToken(r, in.MFAToken), in.Ceremony, in.Credential)
	if errors.Is(err, identity.ErrCode) {
		return withCode(fault.E(fault.Unauthenticated, "That passkey could not be used. Try again, or use your authenticator app or a recovery code.", err), "invalid_passkey")
	}
	if err != nil {
		return err
	}
	if in.MFAToken != "" {
		return writeJSON(w, http.StatusOK, tokenJSON{Token: tok, ExpiresAt: sess.ExpiresAt})
	}
	setSessionCookie(w, tok)
	if err := s.rememberDevice(w, r, tok); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"redirect": "/"})
}
