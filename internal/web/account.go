package web

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"

	"uroportal/internal/fault"
	"uroportal/internal/identity"
	"uroportal/internal/session"
)

type accountPage struct {
	Security  identity.Security
	CurrentID string
	Name      string
	Email     string
	Notice    string
}

// stepUp sends the browser to confirm its password, then back to next.
func stepUp(w http.ResponseWriter, r *http.Request, next string) {
	http.Redirect(w, r, "/account/confirm?next="+url.QueryEscape(next), http.StatusSeeOther)
}

func (s *Server) account(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	sec, err := s.auth.SecurityOf(r.Context(), p)
	if err != nil {
		return err
	}
	page := accountPage{Security: sec, CurrentID: p.Session.ID, Name: p.User.Name, Email: p.User.Email}
	switch r.URL.Query().Get("notice") {
	case "password":
		page.Notice = "Your password was changed. Your other sessions were signed out."
	case "ended":
		page.Notice = "That session was signed out."
	case "email":
		page.Notice = "Your email address was changed. Sign in with the new one from now on."
	}
	return s.pages.render(w, r, http.StatusOK, "account", "Your account and security", page)
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	if err := s.auth.EndOwnSession(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/account?notice=ended", http.StatusSeeOther)
	return nil
}

type mfaPage struct {
	Enrollment identity.TOTPEnrollment
	Error      string
	Required   bool
}

// QR is the enrollment QR code as a data: URL. html/template refuses data:
// URLs in src by default; this one is a PNG the server drew itself.
func (m mfaPage) QR() template.URL { return template.URL(m.Enrollment.QRPNG) }

// enrolling returns the principal of an active session or of one that must
// enroll a factor before anything else.
func (s *Server) enrolling(r *http.Request) (identity.Principal, error) {
	p, ok := principalFrom(r.Context())
	if !ok {
		return identity.Principal{}, errSignIn
	}
	return p, nil
}

func (s *Server) mfaSetup(w http.ResponseWriter, r *http.Request) error {
	p, err := s.enrolling(r)
	if err != nil {
		return err
	}
	enr, err := s.auth.BeginTOTP(r.Context(), p, s.practice)
	if errors.Is(err, identity.ErrStepUp) {
		stepUp(w, r, "/account/mfa")
		return nil
	}
	if err != nil {
		return err
	}
	return s.pages.render(w, r, http.StatusOK, "mfa", "Set up your authenticator app", mfaPage{Enrollment: enr, Required: p.Session.State == session.Enroll})
}

type codesPage struct {
	Codes []string
}

func (s *Server) mfaConfirm(w http.ResponseWriter, r *http.Request) error {
	p, err := s.enrolling(r)
	if err != nil {
		return err
	}
	codes, tok, err := s.auth.ConfirmTOTP(r.Context(), p, r.PostFormValue("code"))
	if errors.Is(err, identity.ErrCode) {
		// Keep the same secret: a typo must not mean scanning again.
		enr, perr := s.auth.PendingTOTP(r.Context(), p, s.practice)
		if perr != nil {
			return perr
		}
		return s.pages.render(w, r, http.StatusBadRequest, "mfa", "Set up your authenticator app",
			mfaPage{Error: "That code did not match. Check that the time on your phone is right, and enter the newest code.", Required: p.Session.State == session.Enroll, Enrollment: enr})
	}
	if err != nil {
		return err
	}
	if tok != "" {
		setSessionCookie(w, tok)
	}
	if len(codes) == 0 {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return nil
	}
	return s.pages.render(w, r, http.StatusOK, "codes", "Save your recovery codes", codesPage{Codes: codes})
}

func (s *Server) newCodes(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	codes, err := s.auth.NewRecoveryCodes(r.Context(), p)
	if errors.Is(err, identity.ErrStepUp) {
		stepUp(w, r, "/account")
		return nil
	}
	if err != nil {
		return err
	}
	return s.pages.render(w, r, http.StatusOK, "codes", "Save your recovery codes", codesPage{Codes: codes})
}

type passwordPage struct {
	Error string
}

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	if err := s.auth.RequireRecent(p); err != nil {
		stepUp(w, r, "/account/password")
		return nil
	}
	return s.pages.render(w, r, http.StatusOK, "password", "Change your password", passwordPage{})
}

func (s *Server) passwordChange(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("new") != r.PostFormValue("confirm") {
		return s.pages.render(w, r, http.StatusBadRequest, "password", "Change your password", passwordPage{Error: "The two new passwords are not the same. Type the new password twice."})
	}
	tok, err := s.auth.ChangePassword(r.Context(), p, r.PostFormValue("current"), r.PostFormValue("new"), s.practice)
	switch {
	case errors.Is(err, identity.ErrStepUp):
		stepUp(w, r, "/account/password")
		return nil
	case fault.KindOf(err) == fault.Invalid:
		return s.pages.render(w, r, http.StatusBadRequest, "password", "Change your password", passwordPage{Error: fault.Message(err)})
	case err != nil:
		return err
	}
	setSessionCookie(w, tok)
	http.Redirect(w, r, "/account?notice=password", http.StatusSeeOther)
	return nil
}

type confirmPage struct {
	Next  string
	Error string
	MFA   bool
}

// safeNext keeps the redirect after a proof of identity on this site's
// account pages.
func safeNext(next string) string {
	p := localPath(next, "/account")
	if p != "/account" && !strings.HasPrefix(p, "/account/") {
		return "/account"
	}
	return p
}

// localPath returns next if it is a plain path on this site, else def. A
// path with a backslash, a control character, a scheme, a host or a query
// is refused outright rather than repaired: browsers read "/\\evil" as
// "//evil".
func localPath(next, def string) string {
	if next == "" || len(next) > 200 || next[0] != '/' || strings.ContainsAny(next, "\\?#@:") {
		return def
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return def
		}
	}
	clean := path.Clean(next)
	if strings.HasPrefix(clean, "//") || clean != next && clean+"/" != next {
		return def
	}
	return clean
}

func (s *Server) confirmForm(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	sec, err := s.auth.SecurityOf(r.Context(), p)
	if err != nil {
		return err
	}
	return s.pages.render(w, r, http.StatusOK, "confirm", "Confirm it's you", confirmPage{Next: safeNext(r.URL.Query().Get("next")), MFA: sec.TOTP || sec.RecoveryLeft > 0})
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	next := safeNext(r.PostFormValue("next"))
	err = s.auth.Reauthenticate(r.Context(), p, r.PostFormValue("password"), r.PostFormValue("method"), r.PostFormValue("code"))
	if fault.KindOf(err) == fault.Unauthenticated {
		sec, _ := s.auth.SecurityOf(r.Context(), p)
		return s.pages.render(w, r, http.StatusUnauthorized, "confirm", "Confirm it's you", confirmPage{Next: next, Error: fault.Message(err), MFA: sec.TOTP || sec.RecoveryLeft > 0})
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

type forgotPage struct {
	Sent  bool
	Error string
}

func (s *Server) forgotForm(w http.ResponseWriter, r *http.Request) error {
	return s.pages.render(w, r, http.StatusOK, "forgot", "Reset your password", forgotPage{})
}

func (s *Server) forgot(w http.ResponseWriter, r *http.Request) error {
	err := s.auth.RequestPasswordReset(r.Context(), r.PostFormValue("email"), s.baseURL(r)+"/password/reset/", client(r, session.Browser))
	if fault.KindOf(err) == fault.RateLimited {
		return err
	}
	if err != nil {
		return err
	}
	// The same answer whether or not the account exists.
	return s.pages.render(w, r, http.StatusOK, "forgot", "Reset your password", forgotPage{Sent: true})
}

type resetPage struct {
	Token string
	Error string
}

func (s *Server) resetForm(w http.ResponseWriter, r *http.Request) error {
	return s.pages.render(w, r, http.StatusOK, "reset", "Choose a new password", resetPage{Token: r.PathValue("token")})
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	if r.PostFormValue("new") != r.PostFormValue("confirm") {
		return s.pages.render(w, r, http.StatusBadRequest, "reset", "Choose a new password", resetPage{Token: token, Error: "The two passwords are not the same. Type the new password twice."})
	}
	err := s.auth.ResetPassword(r.Context(), token, r.PostFormValue("new"), s.practice)
	if fault.KindOf(err) == fault.Invalid {
		return s.pages.render(w, r, http.StatusBadRequest, "reset", "Choose a new password", resetPage{Token: token, Error: fault.Message(err)})
	}
	if err != nil {
		return err
	}
	clearSessionCookie(w)
	http.Redirect(w, r, "/signin?notice=reset", http.StatusSeeOther)
	return nil
}

// baseURL is the portal's own origin for links in emails. It comes from
// configuration, never from the request's Host header, which an attacker
// could set to send a victim's reset link to their own site.
func (s *Server) baseURL(*http.Request) string { return s.publicURL }

type emailPage struct {
	Email string
	Error string
}

func (s *Server) emailForm(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	if err := s.auth.RequireRecent(p); err != nil {
		stepUp(w, r, "/account/email")
		return nil
	}
	return s.pages.render(w, r, http.StatusOK, "email", "Change your email address", emailPage{Email: p.User.Email})
}

func (s *Server) emailChange(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	email := r.PostFormValue("email")
	err = s.auth.ChangeEmail(r.Context(), p, email)
	switch k := fault.KindOf(err); {
	case errors.Is(err, identity.ErrStepUp):
		stepUp(w, r, "/account/email")
		return nil
	case err != nil && (k == fault.Invalid || k == fault.Conflict):
		return s.pages.render(w, r, http.StatusBadRequest, "email", "Change your email address", emailPage{Email: email, Error: fault.Message(err)})
	case err != nil:
		return err
	}
	http.Redirect(w, r, "/account?notice=email", http.StatusSeeOther)
	return nil
}
