// Package web is Uroportal's HTTP layer: TLS, listeners, middleware, the
// error adapter, templates, static files and the admin endpoints. Handlers
// parse and validate input and call services; they never read PHI tables or
// decide access themselves.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/clinical"
	"uroportal/internal/clock"
	"uroportal/internal/identity"
)

// Options are the dependencies of the portal's HTTP handler.
type Options struct {
	Logger *slog.Logger // required
	Clock  clock.Clock  // default clock.Real
	// Registry receives the HTTP metrics (required).
	Registry prometheus.Registerer
	// CSRFKey signs form tokens: at least 32 random bytes, the same on
	// every node (required).
	CSRFKey []byte
	// CSRFBinding returns a per-session value to bind CSRF tokens to (e.g.
	// a hash of the session ID), or "" without a session. Nil until the
	// session code supplies one; tokens are then bound to a cookie.
	CSRFBinding func(*http.Request) string
	// TrustedOrigins may send cross-origin state-changing requests.
	TrustedOrigins []string
	// PracticeName is shown on every page (required).
	PracticeName string
	// BodyLimit caps request bodies; default DefaultBodyLimit (1 MiB).
	BodyLimit int64
	// Clinical serves patients' records (required).
	Clinical Clinical
	// Auth signs people in; with it, requests are authenticated by their
	// session cookie or bearer token.
	Auth *identity.Auth
	// Policy answers relation questions for /api/v1/me.
	Policy *access.Policy
	// Audit serves patients' access history.
	Audit *audit.Log
	// PublicURL is the portal's origin for links in emails, e.g.
	// "https://portal.example.org" (required with Auth).
	PublicURL string
	// Authenticate, used only when Auth is nil, names the actor of a
	// request (the benchmark harness's stand-in for sign-in). With
	// neither, every request for patient data is refused.
	Authenticate func(*http.Request) (access.Actor, error)
}

// Clinical is the part of clinical.Service the handlers use; every method
// decides access and audits.
type Clinical interface {
	LabResults(ctx context.Context, actor access.Actor, patientID, code string) ([]clinical.LabResult, error)
	FindByMRN(ctx context.Context, actor access.Actor, mrn string) (clinical.Patient, error)
	PatientIDByMRN(ctx context.Context, mrn string) (string, error)
}

// Server is the portal's HTTP handler and the dependencies its handlers
// use. Handlers are methods on Server.
type Server struct {
	log       *slog.Logger
	clock     clock.Clock
	practice  string
	bodyLimit int64

	clinical     Clinical
	authenticate func(*http.Request) (access.Actor, error)
	auth         *identity.Auth
	policy       *access.Policy
	audit        *audit.Log
	publicURL    string

	pages   *pages
	static  *staticAssets
	metrics *Metrics
	csrf    func(http.Handler) http.Handler
	mux     *http.ServeMux
}

// New checks opts and builds the Server.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Logger == nil:
		return nil, errors.New("web: Options.Logger is required")
	case opts.Registry == nil:
		return nil, errors.New("web: Options.Registry is required")
	case opts.PracticeName == "":
		return nil, errors.New("web: Options.PracticeName is required")
	case opts.Clinical == nil:
		return nil, errors.New("web: Options.Clinical is required")
	case opts.Auth != nil && !strings.HasPrefix(opts.PublicURL, "https://"):
		return nil, errors.New("web: Options.PublicURL must be the portal's https:// address")
	}
	if opts.Auth != nil && opts.CSRFBinding == nil {
		opts.CSRFBinding = sessionBinding
	}
	if opts.Authenticate == nil {
		opts.Authenticate = func(*http.Request) (access.Actor, error) { return access.Actor{}, errSignIn }
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = DefaultBodyLimit
	}
	s := &Server{
		log:       opts.Logger,
		clock:     opts.Clock,
		practice:  opts.PracticeName,
		bodyLimit: opts.BodyLimit,
		mux:       http.NewServeMux(),

		clinical:     opts.Clinical,
		authenticate: opts.Authenticate,
		auth:         opts.Auth,
		policy:       opts.Policy,
		audit:        opts.Audit,
		publicURL:    strings.TrimRight(opts.PublicURL, "/"),
	}
	var err error
	if s.static, err = newStaticAssets(); err != nil {
		return nil, err
	}
	if s.pages, err = newPages(opts.PracticeName, s.static); err != nil {
		return nil, err
	}
	if s.metrics, err = NewMetrics(opts.Registry, opts.Clock); err != nil {
		return nil, err
	}
	s.csrf, err = CSRF(CSRFOptions{
		Key:            opts.CSRFKey,
		Binding:        opts.CSRFBinding,
		TrustedOrigins: opts.TrustedOrigins,
		BodyLimit:      opts.BodyLimit,
		WriteError:     s.writeError,
	})
	if err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Handler returns the portal handler: request ID → recover → access log →
// metrics → security headers → body limit → CSRF → routes.
func (s *Server) Handler() http.Handler {
	var h http.Handler = recordPattern(s.mux)
	h = s.csrf(h)
	h = s.loadPrincipal(h)
	h = LimitBody(s.bodyLimit, s.writeError)(h)
	h = SecurityHeaders(h)
	h = s.metrics.Middleware(h)
	h = AccessLog(s.log, s.clock)(h)
	h = Recover(s.log, s.writeError)(h)
	h = AssignRequestID(h)
	return h
}
