package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"uroportal/internal/fault"
)

// CSRF names.
const (
	CSRFCookie    = "__Host-uroportal-csrf"
	CSRFFormField = "csrf_token"
	CSRFHeader    = "X-CSRF-Token"
	// MinCSRFKeyLen is the shortest CSRF key accepted (256 bits).
	MinCSRFKeyLen = 32
)

const csrfMessage = "This form has expired or was sent from another website. Go back, reload the page and try again."

// CSRFOptions configure CSRF protection.
type CSRFOptions struct {
	// Key signs form tokens; at least 32 random bytes, stable across nodes.
	Key []byte
	// Binding ties a token to the browser session: it returns a value
	// unique to the session (e.g. a hash of the session ID) or "" when
	// there is no session, in which case a random value in the
	// __Host-uroportal-csrf cookie is used. Nil means always the cookie.
	Binding func(r *http.Request) string
	// TrustedOrigins are extra origins ("https://portal.example.org")
	// allowed to send cross-origin requests.
	TrustedOrigins []string
	// BodyLimit is the request body limit; multipart forms up to this size
	// are parsed in memory.
	BodyLimit int64
	// WriteError writes the 403 (and the 413 when reading the form hits
	// the body limit).
	WriteError ErrorWriter
}

type csrfTokenKey struct{}

// CSRF protects every state-changing request (any method but GET, HEAD and
// OPTIONS) twice: http.CrossOriginProtection refuses cross-origin browser
// requests, and a form token, HMAC-SHA256(key, binding), must come back in
// the csrf_token form field or the X-CSRF-Token header. API clients that
// authenticate with "Authorization: Bearer" and send no cookies are exempt
// from the form token (they cannot be driven by another site), not from the
// cross-origin check. Templates get the token from CSRFToken(r).
func CSRF(opts CSRFOptions) (func(http.Handler) http.Handler, error) {
	if len(opts.Key) < MinCSRFKeyLen {
		return nil, fmt.Errorf("web: CSRF key is %d bytes; it must be at least %d random bytes", len(opts.Key), MinCSRFKeyLen)
	}
	if opts.WriteError == nil {
		return nil, errors.New("web: CSRF needs an error writer")
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range opts.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("web: trusted origin %q: %w", o, err)
		}
	}
	key := append([]byte(nil), opts.Key...)
	token := func(source, binding string) string {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte("uroportal csrf v1\x00" + source + "\x00" + binding))
		return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	deny := func(w http.ResponseWriter, r *http.Request, cause error) {
		opts.WriteError(w, r, fault.E(fault.Forbidden, csrfMessage, cause))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := cop.Check(r); err != nil {
				deny(w, r, fmt.Errorf("csrf: %w", err))
				return
			}
			unsafe := !safeMethod(r.Method)
			if unsafe && bearerWithoutCookies(r) {
				next.ServeHTTP(w, r)
				return
			}
			var want string
			if b := bindingOf(opts.Binding, r); b != "" {
				want = token("session", b)
			} else if c := csrfCookieValue(r); c != "" {
				want = token("cookie", c)
			} else if !unsafe {
				c := newCSRFCookieValue()
				http.SetCookie(w, &http.Cookie{
					Name: CSRFCookie, Value: c, Path: "/",
					Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
				})
				want = token("cookie", c)
			}
			if unsafe {
				if want == "" {
					deny(w, r, errors.New("csrf: no session and no csrf cookie"))
					return
				}
				got := r.Header.Get(CSRFHeader)
				if got == "" {
					var err error
					if got, err = formToken(r, opts.BodyLimit); err != nil {
						var tooLarge *http.MaxBytesError
						if errors.As(err, &tooLarge) {
							opts.WriteError(w, r, tooLarge)
							return
						}
						deny(w, r, fmt.Errorf("csrf: read form: %w", err))
						return
					}
				}
				if !hmac.Equal([]byte(got), []byte(want)) {
					deny(w, r, errors.New("csrf: missing or wrong token"))
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), csrfTokenKey{}, want)))
		})
	}, nil
}

// CSRFToken returns the token a form on this page must send back in the
// csrf_token field, or "" outside the CSRF middleware.
func CSRFToken(r *http.Request) string {
	t, _ := r.Context().Value(csrfTokenKey{}).(string)
	return t
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// bearerWithoutCookies: an API client that carries no cookies cannot be a
// browser session being driven by another site, so it needs no form token:
// either it authenticates with a bearer token, or it is signing in to
// /api/v1 (which sets no cookie, and whose answer another site cannot read).
// Cross-site browser requests are still refused by CrossOriginProtection.
func bearerWithoutCookies(r *http.Request) bool {
	if len(r.Header.Values("Cookie")) != 0 {
		return false
	}
	scheme, _, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return true
	}
	return strings.HasPrefix(r.URL.Path, "/api/v1/auth/")
}

func bindingOf(f func(*http.Request) string, r *http.Request) string {
	if f == nil {
		return ""
	}
	return f(r)
}

// csrfCookieValue returns the cookie's value if it is well formed.
func csrfCookieValue(r *http.Request) string {
	c, err := r.Cookie(CSRFCookie)
	if err != nil {
		return ""
	}
	if b, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil || len(b) != 32 {
		return ""
	}
	return c.Value
}

func newCSRFCookieValue() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// formToken reads the token from the request body (never the URL, where it
// would end up in logs and Referer headers). Multipart forms are parsed in
// memory up to the body limit, so uploads are never spooled to disk here.
func formToken(r *http.Request, bodyLimit int64) (string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		if err := r.ParseMultipartForm(max(bodyLimit, DefaultBodyLimit)); err != nil {
			return "", err
		}
	} else if err := r.ParseForm(); err != nil {
		return "", err
	}
	return r.PostForm.Get(CSRFFormField), nil
}
