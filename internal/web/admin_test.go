package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

func TestAdmin(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	e := startEnv(t, envConfig{checks: []Check{
		{"database", func(ctx context.Context) error { return nil }},
		{"keys", func(ctx context.Context) error {
			if failing.Load() {
				return errors.New("open /srv/uroportal/kek.key: permission denied")
			}
			return nil
		}},
	}})
	plain := &http.Client{}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, body := (&testEnv{client: plain}).do(t, newRequest(t, "GET", "http://"+e.bound.AdminAddr+path, nil))
		return res, body
	}

	if res, body := get("/healthz"); res.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz = %d %q", res.StatusCode, body)
	}

	res, body := get("/readyz")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with a failing check = %d", res.StatusCode)
	}
	if strings.Contains(body, "permission denied") || strings.Contains(body, "kek.key") {
		t.Errorf("readyz leaks error detail: %s", body)
	}
	var ready struct {
		Status string
		Checks []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"database": "ok", "keys": "failing"}
	if ready.Status != "not_ready" || len(ready.Checks) != 2 {
		t.Errorf("readyz = %s", body)
	}
	for _, c := range ready.Checks {
		if want[c.Name] != c.Status {
			t.Errorf("check %s = %s, want %s", c.Name, c.Status, want[c.Name])
		}
	}
	e.logs.waitFor(t, "for the failing check", func(m map[string]any) bool {
		return m["msg"] == "readiness check failing" && m["check"] == "keys" && strings.Contains(m["error"].(string), "permission denied")
	})

	failing.Store(false)
	if res, body := get("/readyz"); res.StatusCode != 200 || !strings.Contains(body, `"status":"ready"`) {
		t.Errorf("readyz with passing checks = %d %s", res.StatusCode, body)
	}

	// Metrics: the portal's HTTP metrics by route pattern, and Go runtime.
	e.get(t, "/?mrn=123")
	res, body = get("/metrics")
	if res.StatusCode != 200 {
		t.Fatalf("metrics = %d", res.StatusCode)
	}
	for _, w := range []string{
		`uroportal_http_requests_total{code="200",method="GET",route="GET /{$}"} 1`,
		`uroportal_http_request_duration_seconds_count{route="GET /{$}"} 1`,
		"uroportal_http_requests_in_flight 0",
		"go_goroutines",
	} {
		if !strings.Contains(body, w) {
			t.Errorf("metrics lack %q", w)
		}
	}
	if runtime.GOOS == "linux" && !strings.Contains(body, "process_resident_memory_bytes") {
		t.Error("metrics lack process collector")
	}
	if strings.Contains(body, "mrn") {
		t.Error("metrics contain the query string")
	}
}

func TestReadyzCheckTimeoutAndPanic(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	h, err := NewAdmin(AdminOptions{Logger: discardLogger(), Registry: newRegistry(), CheckTimeout: 1, Checks: []Check{
		{"stuck", func(ctx context.Context) error { <-block; return nil }},
		{"panics", func(ctx context.Context) error { panic("bad") }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := newRecorder()
	h.ServeHTTP(w, newRequest(t, "GET", "/readyz", nil))
	if w.Code != 503 || strings.Count(w.Body.String(), `"failing"`) != 2 {
		t.Errorf("readyz = %d %s", w.Code, w.Body)
	}
}

func TestAdminOptionsValidated(t *testing.T) {
	ok := func(context.Context) error { return nil }
	for _, checks := range [][]Check{{{"", ok}}, {{"a", nil}}, {{"a", ok}, {"a", ok}}} {
		if _, err := NewAdmin(AdminOptions{Logger: discardLogger(), Registry: newRegistry(), Checks: checks}); err == nil {
			t.Errorf("NewAdmin accepted checks %v", checks)
		}
	}
	if _, err := NewAdmin(AdminOptions{Registry: newRegistry()}); err == nil {
		t.Error("NewAdmin accepted no logger")
	}
	// Twice on one registry is fine: runtime collectors are shared.
	reg := newRegistry()
	for i := 0; i < 2; i++ {
		if _, err := NewAdmin(AdminOptions{Logger: discardLogger(), Registry: reg}); err != nil {
			t.Fatalf("NewAdmin #%d: %v", i+1, err)
		}
	}
}
