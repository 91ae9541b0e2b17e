package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"uroportal/internal/fault"
)

func TestErrorAdapter(t *testing.T) {
	e := startEnv(t, envConfig{setup: testRoutes})
	tests := []struct {
		kind    string
		status  int
		message string
	}{
		{"invalid", 400, "Safe message for invalid."},
		{"not_found", 404, "Safe message for not_found."},
		{"conflict", 409, "Safe message for conflict."},
		{"unauthenticated", 401, "Safe message for unauthenticated."},
		{"forbidden", 403, "Safe message for forbidden."},
		{"rate_limited", 429, "Safe message for rate_limited."},
		{"too_large", 413, "Safe message for too_large."},
		{"internal", 500, "Safe message for internal."},
		{"plain", 500, fault.Message(nil)}, // an unclassified error: generic text only
	}
	for _, tt := range tests {
		for _, api := range []bool{false, true} {
			name := tt.kind + " html"
			path := "/test/fault/" + tt.kind
			if api {
				name, path = tt.kind+" api", "/api"+path
			}
			t.Run(name, func(t *testing.T) {
				res, body := e.get(t, path)
				if res.StatusCode != tt.status {
					t.Errorf("status %d, want %d", res.StatusCode, tt.status)
				}
				if strings.Contains(body, "pq:") || strings.Contains(body, "10.0.0.5") {
					t.Errorf("response leaks the internal error: %s", body)
				}
				if api {
					if ct := res.Header.Get("Content-Type"); ct != "application/json" {
						t.Errorf("Content-Type %q", ct)
					}
					var v map[string]string
					if err := json.Unmarshal([]byte(body), &v); err != nil {
						t.Fatalf("body is not JSON: %v: %s", err, body)
					}
					wantCode := tt.kind
					if tt.kind == "plain" {
						wantCode = "internal"
					}
					if len(v) != 2 || v["error"] != wantCode || v["message"] != tt.message {
						t.Errorf("JSON = %v, want error %q message %q", v, wantCode, tt.message)
					}
				} else {
					if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
						t.Errorf("Content-Type %q", ct)
					}
					doc := parseHTML(t, body)
					if got := doc.one(t, "main").textContent(); !strings.Contains(got, tt.message) || !strings.Contains(got, res.Header.Get(HeaderRequestID)) {
						t.Errorf("page main %q lacks message %q or reference", got, tt.message)
					}
				}
				if tt.status == 429 && res.Header.Get("Retry-After") != "60" {
					t.Errorf("Retry-After = %q", res.Header.Get("Retry-After"))
				}
				if got := res.Header.Get("WWW-Authenticate"); (tt.status == 401 && api) != (got != "") {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if res.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q", res.Header.Get("Cache-Control"))
				}
				id := res.Header.Get(HeaderRequestID)
				if tt.status != 404 {
					line := e.logs.waitFor(t, "for the error", func(m map[string]any) bool {
						return m["msg"] == "request failed" && m["request_id"] == id
					})
					if !strings.Contains(fmt.Sprint(line["error"]), "pq: password authentication failed") {
						t.Errorf("log line lacks the detail: %v", line)
					}
				}
			})
		}
	}
}

type retryErr struct{ d time.Duration }

func (r retryErr) Error() string             { return "slow down" }
func (r retryErr) RetryAfter() time.Duration { return r.d }

type codedErr struct{}

func (codedErr) Error() string     { return "bad login for user 42" }
func (codedErr) ErrorCode() string { return "invalid_credentials" }

func TestErrorDetails(t *testing.T) {
	s, err := New(Options{Logger: discardLogger(), Registry: newRegistry(), CSRFKey: testCSRFKey, PracticeName: "P", Clinical: fakeClinical{}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		err    error
		status int
		check  func(t *testing.T, w *httptest.ResponseRecorder)
	}{
		{"retry after", fault.E(fault.RateLimited, "Wait.", retryErr{90500 * time.Millisecond}), 429, func(t *testing.T, w *httptest.ResponseRecorder) {
			if got := w.Header().Get("Retry-After"); got != "91" {
				t.Errorf("Retry-After = %q, want 91", got)
			}
		}},
		{"specific code", fault.E(fault.Unauthenticated, "Wrong email or password.", codedErr{}), 401, func(t *testing.T, w *httptest.ResponseRecorder) {
			if !strings.Contains(w.Body.String(), `"error":"invalid_credentials"`) || strings.Contains(w.Body.String(), "user 42") {
				t.Errorf("body %s", w.Body)
			}
		}},
		{"max bytes", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 5 << 20}), 413, func(t *testing.T, w *httptest.ResponseRecorder) {
			if !strings.Contains(w.Body.String(), "5 MB") {
				t.Errorf("body %s", w.Body)
			}
		}},
		{"kind without message", fault.E(fault.Forbidden, "", errors.New("role nurse lacks labs:read")), 403, func(t *testing.T, w *httptest.ResponseRecorder) {
			if !strings.Contains(w.Body.String(), "do not have access") || strings.Contains(w.Body.String(), "nurse") {
				t.Errorf("body %s", w.Body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.writeError(w, httptest.NewRequest("GET", "/api/v1/x", nil), tt.err)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			tt.check(t, w)
		})
	}
}

func TestStatusOfEveryKind(t *testing.T) {
	for k := fault.Internal; k <= fault.TooLarge; k++ {
		st := statusOf(k)
		if (k == fault.Internal) != (st == 500) || st < 400 {
			t.Errorf("kind %v → %d", k, st)
		}
		if errorTitles[k] == "" {
			t.Errorf("kind %v has no page title", k)
		}
	}
}
