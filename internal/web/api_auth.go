package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/fault"
	"uroportal/internal/identity"
	"uroportal/internal/session"
)

// codedFault gives an error a specific JSON error code (CONTRACT.md).
type codedFault struct {
	err  error
	code string
}

func (c codedFault) Error() string     { return c.err.Error() }
func (c codedFault) ErrorCode() string { return c.code }
func (c codedFault) Unwrap() error     { return c.err }

func withCode(err error, code string) error { return codedFault{err: err, code: code} }

// readJSON decodes a small JSON body into v.
func readJSON(r *http.Request, v any) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		return fault.E(fault.Unsupported, "Send the request body as JSON with Content-Type: application/json.", nil)
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return withCode(fault.E(fault.Invalid, "The request body is not the JSON this call expects.", err), "invalid_json")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

type tokenJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) error {
	if s.auth == nil {
		return errSignIn
	}
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	res, err := s.auth.Login(r.Context(), in.Email, in.Password, client(r, session.API))
	if errors.Is(err, identity.ErrInvalidCredentials) {
		return withCode(err, "invalid_credentials")
	}
	if err != nil {
		return err
	}
	switch res.Session.State {
	case session.MFA:
		return writeJSON(w, http.StatusOK, map[string]any{"mfa_required": true, "mfa_token": res.Token, "methods": res.Methods})
	case session.Enroll:
		// An API client cannot enroll a factor; the portal can.
		if p, err := s.auth.Authenticate(r.Context(), res.Token); err == nil {
			s.auth.SignOut(r.Context(), p)
		}
		return withCode(fault.E(fault.Forbidden, "Your account needs a second way to sign in. Set one up in the patient portal in a browser, then try again.", nil), "mfa_enrollment_required")
	}
	return writeJSON(w, http.StatusOK, tokenJSON{Token: res.Token, ExpiresAt: res.Session.ExpiresAt})
}

func (s *Server) apiMFA(w http.ResponseWriter, r *http.Request) error {
	if s.auth == nil {
		return errSignIn
	}
	var in struct {
		MFAToken string `json:"mfa_token"`
		Code     string `json:"code"`
		Method   string `json:"method"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Method == "" {
		in.Method = "totp"
		if len(strings.TrimSpace(in.Code)) > 7 {
			in.Method = "recovery"
		}
	}
	tok, sess, err := s.auth.SecondFactor(r.Context(), in.MFAToken, in.Method, in.Code)
	if errors.Is(err, identity.ErrCode) {
		return withCode(err, "invalid_code")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, tokenJSON{Token: tok, ExpiresAt: sess.ExpiresAt})
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request) error {
	p, ok := principalFrom(r.Context())
	if !ok {
		return errSignIn
	}
	if err := s.auth.SignOut(r.Context(), p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	out := struct {
		ID        string   `json:"id"`
		Role      string   `json:"role"`
		Name      string   `json:"name"`
		PatientID string   `json:"patient_id,omitempty"`
		ActingFor []string `json:"acting_for"`
	}{ID: p.User.ID, Role: string(p.User.Role), Name: p.User.Name, PatientID: p.User.PatientID, ActingFor: []string{}}
	if p.User.Role == access.Proxy && s.policy != nil {
		if out.ActingFor, err = s.policy.ActingFor(r.Context(), p.User.ID); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, out)
}
