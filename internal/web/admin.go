package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"uroportal/internal/logs"
)

// Check is a named readiness check for /readyz, e.g. "database" (reachable),
// "migrations" (current), "keys" (loaded). Fn returns nil when ready.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// AdminOptions configure the admin handler.
type AdminOptions struct {
	Logger *slog.Logger
	// Registry is gathered by /metrics. NewAdmin adds the Go runtime and
	// process collectors to it unless they are already there.
	Registry *prometheus.Registry
	// Checks run, concurrently, on every /readyz.
	Checks []Check
	// CheckTimeout bounds each check; default 5s.
	CheckTimeout time.Duration
	// Handlers are further admin routes by pattern, e.g. the audit log's
	// signed heads and proofs for outside witnesses.
	Handlers map[string]http.Handler
}

// NewAdmin returns the admin handler: GET /healthz (200 "ok" while the
// process runs), GET /readyz (200 when every check passes, else 503, with a
// per-check status and no error detail; the detail is logged) and GET
// /metrics (Prometheus text format).
func NewAdmin(opts AdminOptions) (http.Handler, error) {
	if opts.Logger == nil || opts.Registry == nil {
		return nil, errors.New("web: admin needs a Logger and a Registry")
	}
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = 5 * time.Second
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := opts.Registry.Register(c); err != nil {
			if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
				return nil, fmt.Errorf("web: register runtime metrics: %w", err)
			}
		}
	}
	seen := map[string]bool{}
	for _, c := range opts.Checks {
		if c.Name == "" || c.Fn == nil || seen[c.Name] {
			return nil, fmt.Errorf("web: readiness check %q needs a unique name and a function", c.Name)
		}
		seen[c.Name] = true
	}
	a := &admin{log: opts.Logger, checks: opts.Checks, timeout: opts.CheckTimeout}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: false,
	}))
	for pattern, handler := range opts.Handlers {
		mux.Handle(pattern, handler)
	}
	var h http.Handler = mux
	h = SecurityHeaders(h)
	h = Recover(opts.Logger, plainError)(h)
	h = AssignRequestID(h)
	return h, nil
}

type admin struct {
	log     *slog.Logger
	checks  []Check
	timeout time.Duration
}

type checkResult struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "ok" or "failing"
}

func (a *admin) readyz(w http.ResponseWriter, r *http.Request) {
	results := make([]checkResult, len(a.checks))
	var wg sync.WaitGroup
	for i, c := range a.checks {
		wg.Go(func() {
			results[i] = checkResult{Name: c.Name, Status: "ok"}
			if err := a.run(r.Context(), c); err != nil {
				results[i].Status = "failing"
				a.log.LogAttrs(r.Context(), slog.LevelWarn, "readiness check failing",
					slog.String(logs.KeyCheck, c.Name), slog.Any(logs.KeyError, err),
					slog.String(logs.KeyRequestID, RequestID(r.Context())))
			}
		})
	}
	wg.Wait()
	status, overall := http.StatusOK, "ready"
	for _, res := range results {
		if res.Status != "ok" {
			status, overall = http.StatusServiceUnavailable, "not_ready"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Status string        `json:"status"`
		Checks []checkResult `json:"checks"`
	}{overall, results})
}

// run runs one check, bounded by the timeout even if the check ignores its
// context; a panicking check counts as failing.
func (a *admin) run(ctx context.Context, c Check) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %s", panicText(p))
			}
		}()
		done <- c.Fn(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("check did not finish: %w", ctx.Err())
	}
}

// plainError is the admin listener's error writer: no templates, no detail.
func plainError(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, "internal error; reference %s\n", RequestID(r.Context()))
}
