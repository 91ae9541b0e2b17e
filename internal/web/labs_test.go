package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/clinical"
)

// fakeClinical stands in for clinical.Service at its interface: patient
// "p1" belongs to user "u1"; everyone else is refused as the real policy
// refuses.
type fakeClinical struct{}

func (fakeClinical) LabResults(_ context.Context, a access.Actor, pid, code string) ([]clinical.LabResult, error) {
	if a.UserID != "u1" || pid != "p1" {
		return nil, access.ErrDenied
	}
	rs := []clinical.LabResult{
		{ID: "r1", PatientID: "p1", Code: "2857-1", Name: "PSA, total", Value: "6.10", Unit: "ng/mL", ReferenceRange: "0.00–4.00",
			Flag: clinical.FlagHigh, Status: clinical.StatusFinal, CollectedAt: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
			ResultedAt: time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC), OrderingClinician: "Dr. Demo"},
		{ID: "r2", PatientID: "p1", Code: "2160-0", Name: "Creatinine, serum", Value: "0.90", Unit: "mg/dL", ReferenceRange: "0.74–1.35",
			Status: clinical.StatusFinal, CollectedAt: time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)},
	}
	if code != "" {
		var out []clinical.LabResult
		for _, r := range rs {
			if r.Code == code {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return rs, nil
}

func (fakeClinical) FindByMRN(context.Context, access.Actor, string) (clinical.Patient, error) {
	return clinical.Patient{}, access.ErrDenied
}

func (fakeClinical) PatientIDByMRN(context.Context, string) (string, error) {
	return "", access.ErrDenied
}

func labsServer(t *testing.T) http.Handler {
	t.Helper()
	s, err := New(Options{Logger: discardLogger(), Registry: newRegistry(), CSRFKey: testCSRFKey, PracticeName: "P", Clinical: fakeClinical{},
		Authenticate: func(r *http.Request) (access.Actor, error) {
			if r.Header.Get("Authorization") == "Bearer good" {
				return access.Actor{UserID: "u1", Role: access.Patient, PatientID: "p1"}, nil
			}
			return access.Actor{}, errSignIn
		}})
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

func TestLabsPage(t *testing.T) {
	h := labsServer(t)
	get := func(path, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := get("/patients/p1/results", "good")
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("own results: %d, Cache-Control %q", w.Code, w.Header().Get("Cache-Control"))
	}
	if body := w.Body.String(); !strings.Contains(body, "6.10 ng/mL") || !strings.Contains(body, "High") {
		t.Fatalf("results page lacks the PSA row: %s", body)
	}
	if w := get("/patients/p1/results", ""); w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), "6.10") {
		t.Fatalf("without sign-in: %d", w.Code)
	}
	// Another patient's record and one that does not exist look the same.
	a, b := get("/patients/p2/results", "good"), get("/patients/nonexistent/results", "good")
	if a.Code != http.StatusNotFound || b.Code != http.StatusNotFound {
		t.Fatalf("other patient: %d, unknown: %d; want 404 both", a.Code, b.Code)
	}

	w = get("/api/v1/patients/p1/labs?code=2857-1", "good")
	var out struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 200 {
		t.Fatalf("API: %d %v", w.Code, err)
	}
	if len(out.Results) != 1 {
		t.Fatalf("code filter: %d results", len(out.Results))
	}
	for _, k := range []string{"id", "code", "name", "value", "unit", "reference_range", "flag", "status", "collected_at", "resulted_at"} {
		if _, ok := out.Results[0][k]; !ok {
			t.Errorf("API result lacks %q", k)
		}
	}
	w = get("/api/v1/patients/p2/labs", "good")
	var e map[string]string
	json.Unmarshal(w.Body.Bytes(), &e)
	if w.Code != 404 || e["error"] != "not_found" || e["message"] == "" {
		t.Fatalf("API other patient: %d %v", w.Code, e)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/account/mfa":         "/account/mfa",
		"/account/passkeys":    "/account/passkeys",
		"/./\\evil.example":    "/account",
		"/\\evil.example":      "/account",
		"//evil.example":       "/account",
		"https://evil.example": "/account",
		"/account/../x":        "/account",
		"/x":                   "/account",
		"/account/\x00":        "/account",
		"/account?next=//evil": "/account",
		"":                     "/account",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
	if got := localPath("/patients/p1/results", "/"); got != "/patients/p1/results" {
		t.Errorf("localPath of a plain path = %q", got)
	}
}
