package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/fault"
	"uroportal/internal/identity"
	"uroportal/internal/session"
)

// Session cookie. __Host- pins it to this host, Secure and path /.
const SessionCookie = "__Host-uroportal-session"

// DeviceCookie remembers a browser, for new-device notices.
const DeviceCookie = "__Host-uroportal-device"

// rememberDevice records a completed browser sign-in; a new browser gets a
// device cookie and, for staff, a "new sign-in" email.
func (s *Server) rememberDevice(w http.ResponseWriter, r *http.Request, token string) error {
	p, err := s.auth.Authenticate(r.Context(), token)
	if err != nil {
		return err
	}
	var have string
	if c, err := r.Cookie(DeviceCookie); err == nil {
		have = c.Value
	}
	fresh, err := s.auth.SeenDevice(r.Context(), p, have, r.UserAgent())
	if err != nil {
		return err
	}
	if fresh != "" {
		http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: fresh, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
			MaxAge: int(identity.DeviceCookieLife.Seconds())})
	}
	return nil
}

type principalKey struct{}

// principalFrom returns the signed-in principal of a request, if any.
func principalFrom(ctx context.Context) (identity.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(identity.Principal)
	return p, ok
}

// requestToken is the session token of r: the bearer token of an API
// client, or the browser's cookie.
func requestToken(r *http.Request) (token string, bearer bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		t, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return "", true
		}
		return strings.TrimSpace(t), true
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value, false
	}
	return "", false
}

// sessionBinding ties CSRF form tokens to the browser's session.
func sessionBinding(r *http.Request) string {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		h := sha256.Sum256([]byte("csrf\x00" + c.Value))
		return hex.EncodeToString(h[:])
	}
	return ""
}

// loadPrincipal resolves the session of every request (before the routes
// run) and puts the principal in the context. A cookie whose session has
// ended is cleared.
func (s *Server) loadPrincipal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.auth == nil {
			next.ServeHTTP(w, r)
			return
		}
		token, bearer := requestToken(r)
		if token == "" {
			next.ServeHTTP(w, r)
			return
		}
		var p identity.Principal
		var err error
		if r.URL.Path == "/session/status" {
			p, err = s.auth.Peek(r.Context(), token)
		} else {
			p, err = s.auth.Authenticate(r.Context(), token)
		}
		// A browser session's token works only as the cookie, an API
		// session's only as a bearer token.
		if err == nil && (p.Session.Kind == session.API) != bearer {
			err = session.ErrEnded
		}
		if err != nil {
			if !bearer {
				if _, pending := s.pendingOK(r, token); !pending {
					clearSessionCookie(w)
				}
			}
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// pendingOK reports whether token is a sign-in waiting for its second
// factor (whose cookie must survive until the factor is checked).
func (s *Server) pendingOK(r *http.Request, token string) ([]string, bool) {
	m, err := s.auth.PendingMethods(r.Context(), token)
	return m, err == nil
}

func setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// client describes the request for sign-in.
func client(r *http.Request, kind session.Kind) identity.Client {
	return identity.Client{IP: clientIP(r), UserAgent: r.UserAgent(), Kind: kind}
}

// signedIn returns the active principal or asks the browser to sign in.
// A session still waiting for a second factor to be enrolled gets only the
// enrollment pages.
func (s *Server) signedIn(r *http.Request) (identity.Principal, error) {
	p, ok := principalFrom(r.Context())
	if !ok {
		return identity.Principal{}, errSignIn
	}
	if p.Session.State != session.Active {
		return identity.Principal{}, errEnrollFirst
	}
	return p, nil
}

var errEnrollFirst = fault.E(fault.Forbidden, "Set up a second way to sign in first: your account needs one before you can continue.", nil)

// actorOf authenticates a request for a PHI route.
func (s *Server) actorOf(r *http.Request) (access.Actor, error) {
	if s.auth == nil {
		return s.authenticate(r)
	}
	p, err := s.signedIn(r)
	if err != nil {
		return access.Actor{}, err
	}
	return p.Actor(), nil
}

// --- Browser sign-in -------------------------------------------------------

type signinPage struct {
	Email   string
	Error   string
	Notice  string
	Expired bool
}

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) error {
	if p, ok := principalFrom(r.Context()); ok && p.Session.State == session.Active {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	page := signinPage{Expired: r.URL.Query().Get("expired") == "1"}
	switch r.URL.Query().Get("notice") {
	case "reset":
		page.Notice = "Your password was changed. Sign in with the new one."
	case "signedout":
		page.Notice = "You are signed out."
	}
	return s.pages.render(w, r, http.StatusOK, "signin", "Sign in", page)
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) error {
	if s.auth == nil {
		return errSignIn
	}
	email, pw := r.PostFormValue("email"), r.PostFormValue("password")
	res, err := s.auth.Login(r.Context(), email, pw, client(r, session.Browser))
	if err != nil {
		k := fault.KindOf(err)
		if k == fault.Unauthenticated || k == fault.Forbidden || k == fault.Invalid {
			// The same page and status for an unknown, wrong or locked
			// account; the email typed stays in the form.
			return s.pages.render(w, r, http.StatusUnauthorized, "signin", "Sign in", signinPage{Email: email, Error: fault.Message(err)})
		}
		return err
	}
	setSessionCookie(w, res.Token)
	if res.Session.State == session.Active {
		if err := s.rememberDevice(w, r, res.Token); err != nil {
			return err
		}
	}
	switch res.Session.State {
	case session.MFA:
		http.Redirect(w, r, "/signin/verify", http.StatusSeeOther)
	case session.Enroll:
		http.Redirect(w, r, "/account/mfa", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
	return nil
}

type verifyPage struct {
	Methods    []string
	Method     string
	Error      string
	HasTOTP    bool
	HasCodes   bool
	HasPasskey bool
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) verifyForm(w http.ResponseWriter, r *http.Request) error {
	token, _ := requestToken(r)
	methods, ok := s.pendingOK(r, token)
	if !ok {
		http.Redirect(w, r, "/signin?expired=1", http.StatusSeeOther)
		return nil
	}
	method := r.URL.Query().Get("method")
	if method != "recovery" {
		method = "totp"
	}
	return s.pages.render(w, r, http.StatusOK, "verify", "Confirm it's you",
		verifyPage{Methods: methods, Method: method, HasTOTP: has(methods, "totp"), HasCodes: has(methods, "recovery"), HasPasskey: has(methods, "webauthn")})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) error {
	token, _ := requestToken(r)
	method := r.PostFormValue("method")
	tok, _, err := s.auth.SecondFactor(r.Context(), token, method, r.PostFormValue("code"))
	if err != nil {
		if errors.Is(err, identity.ErrCode) {
			methods, _ := s.pendingOK(r, token)
			return s.pages.render(w, r, http.StatusUnauthorized, "verify", "Confirm it's you",
				verifyPage{Methods: methods, Method: method, Error: fault.Message(err), HasTOTP: has(methods, "totp"), HasCodes: has(methods, "recovery")})
		}
		if fault.KindOf(err) == fault.Unauthenticated {
			clearSessionCookie(w)
			return s.pages.render(w, r, http.StatusUnauthorized, "signin", "Sign in", signinPage{Error: fault.Message(err)})
		}
		return err
	}
	setSessionCookie(w, tok)
	if err := s.rememberDevice(w, r, tok); err != nil {
		return err
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) error {
	if p, ok := principalFrom(r.Context()); ok {
		if err := s.auth.SignOut(r.Context(), p); err != nil {
			return err
		}
	} else if token, _ := requestToken(r); token != "" && s.auth != nil {
		// A sign-in waiting for its second factor, cancelled.
		if err := s.auth.CancelPending(r.Context(), token); err != nil {
			return err
		}
	}
	clearSessionCookie(w)
	http.Redirect(w, r, "/signin?notice=signedout", http.StatusSeeOther)
	return nil
}

// sessionStatus tells the page how long its session has left without
// extending it; the page's script clears itself when it reaches zero.
func (s *Server) sessionStatus(w http.ResponseWriter, r *http.Request) error {
	p, ok := principalFrom(r.Context())
	if !ok {
		return errSignIn
	}
	left := time.Until(p.Session.IdleExpiry())
	if s.clock != nil {
		left = p.Session.IdleExpiry().Sub(s.clock.Now())
	}
	return writeJSON(w, http.StatusOK, map[string]any{"seconds_left": int(left.Seconds())})
}

// keepalive is the page's "Stay signed in" button: any authenticated
// request touches the session, so there is nothing else to do.
func (s *Server) keepalive(w http.ResponseWriter, r *http.Request) error {
	if _, ok := principalFrom(r.Context()); !ok {
		return errSignIn
	}
	if r.Header.Get(CSRFHeader) != "" {
		return writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}
	http.Redirect(w, r, localPath(r.PostFormValue("back"), "/"), http.StatusSeeOther)
	return nil
}
