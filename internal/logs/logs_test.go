package logs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"

	"uroportal/internal/logs"
)

// PHI and secrets used across the tests. None may appear in any output.
const (
	phiName     = "Bartholomew Quisling"
	phiDOB      = "1957-03-14"
	phiMRN      = "MRN-00482913"
	phiEmail    = "bart.q@example.org"
	phiPhone    = "+1-555-0142-7788"
	secPassword = "hunter2-correct-horse"
	secBearer   = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.zzz"
	secTOTP     = "492817"
	phiPSA      = "7.4 ng/mL"
	phiNote     = "elevated PSA, discuss biopsy"
)

var allSecrets = []string{phiName, phiDOB, phiMRN, phiEmail, phiPhone, secPassword, secBearer, secTOTP, phiPSA, phiNote}

type patientRecord struct {
	Name  string
	DOB   string
	MRN   string
	Email string
}

type labResult struct {
	Code  string
	Value string
}

func TestRedaction(t *testing.T) {
	requestID := "4f9c2b7a1e3d4c5b8a69f0e1d2c3b4a5"
	userID := uuid.MustParse("0190f5e2-7c1a-7b3e-9d4f-123456789abc")
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		// keep must appear in the output (proves the line was written and
		// that redaction is not blanket).
		keep []string
	}{
		{"sensitive keys", func(l *slog.Logger) {
			l.Info("login", "name", phiName, "dob", phiDOB, "mrn", phiMRN, "email", phiEmail,
				"password", secPassword, "authorization", secBearer, "otp", secTOTP, "value", phiPSA,
				"note", phiNote, "phone", phiPhone, logs.KeyRequestID, requestID)
		}, []string{requestID, `"msg":"login"`}},
		{"case and word variants", func(l *slog.Logger) {
			l.Info("x", "Patient_Name", phiName, "dateOfBirth", phiDOB, "PATIENT-MRN", phiMRN,
				"userEmail", phiEmail, "new_password", secPassword, "Authorization", secBearer,
				"totp_code", secTOTP, "lab.value", phiPSA, "X-CSRF-Token", secBearer,
				"Set-Cookie", secPassword, "clinical_note", phiNote, "phone_number", phiPhone,
				logs.KeyRequestID, requestID)
		}, []string{requestID}},
		{"typed values under innocent keys", func(l *slog.Logger) {
			l.Info("x", "who", logs.PHI(phiName), "born", logs.PHI(phiDOB), "ident", logs.PHI(phiMRN),
				"to", logs.PHI(phiEmail), "cred", logs.Secret(secPassword), "hdr", logs.Secret(secBearer),
				"result", logs.PHI(phiPSA), "entered", logs.Secret(secTOTP), logs.KeyUserID, userID)
		}, []string{userID.String()}},
		{"nested groups", func(l *slog.Logger) {
			l.Info("x", slog.Group("patient",
				slog.String("name", phiName),
				slog.Group("demographics", slog.String("dob", phiDOB), slog.String("mrn", phiMRN)),
				slog.String(logs.KeyPatientID, "p-123")),
				slog.Group("auth", slog.String("password", secPassword), slog.String("totp", secTOTP)),
				slog.Group("lab", slog.Any("result", logs.PHI(phiPSA))))
		}, []string{`"patient_id":"p-123"`}},
		{"sensitive group name hides innocent keys", func(l *slog.Logger) {
			l.Info("x", slog.Group("session", slog.String("id", secBearer)),
				slog.Group("address", slog.String("line1", phiNote)), logs.KeyRoute, "GET /{$}")
		}, []string{`"route":"GET /{$}"`}},
		{"WithGroup and With", func(l *slog.Logger) {
			l.With("email", phiEmail).WithGroup("credentials").Info("x", "first", secPassword, "second", secTOTP)
			l.WithGroup("patient").With("name", phiName, logs.KeyRequestID, requestID).Info("y", "mrn", phiMRN)
		}, []string{requestID}},
		{"composite values under innocent keys", func(l *slog.Logger) {
			l.Info("x", "record", patientRecord{phiName, phiDOB, phiMRN, phiEmail},
				"ptr", &labResult{"PSA", phiPSA}, "list", []string{phiName, phiEmail},
				"m", map[string]string{"a": phiMRN}, "raw", []byte(secPassword), logs.KeyStatus, 201)
		}, []string{`"status":201`}},
		{"errors keep their text", func(l *slog.Logger) {
			l.Error("failed", logs.KeyError, errors.New("clinical: lab results for p-9: timeout"),
				"pw", logs.Secret(secPassword))
		}, []string{"clinical: lab results for p-9: timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(logs.New(&buf, slog.LevelDebug))
			out := buf.String()
			if out == "" {
				t.Fatal("nothing was logged")
			}
			for _, s := range allSecrets {
				if strings.Contains(out, s) {
					t.Errorf("output contains %q:\n%s", s, out)
				}
			}
			for _, s := range tt.keep {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			if !strings.Contains(out, logs.Redacted) {
				t.Errorf("output has no %q marker:\n%s", logs.Redacted, out)
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Errorf("not a JSON line: %v: %s", err, line)
				}
			}
		})
	}
}

func TestSensitive(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"password", true}, {"PassPhrase", true}, {"refresh_token", true}, {"client-secret", true},
		{"code", true}, {"recovery_codes", true}, {"kek", true}, {"api_key", true}, {"APIKey", true},
		{"Cookie", true}, {"set-cookie", true}, {"session", true}, {"email", true}, {"lastName", true},
		{"dob", true}, {"birth_date", true}, {"mrn", true}, {"phone", true}, {"home.address", true},
		{"ssn", true}, {"value", true}, {"note", true}, {"username", true},
		{logs.KeyRequestID, false}, {logs.KeyRoute, false}, {logs.KeyMethod, false},
		{logs.KeyStatus, false}, {logs.KeyDuration, false}, {logs.KeyBytes, false},
		{logs.KeyError, false}, {logs.KeyUserID, false}, {logs.KeyPatientID, false},
		{logs.KeyNode, false}, {logs.KeyAddr, false}, {logs.KeyListener, false},
		{logs.KeyCheck, false}, {logs.KeyKind, false}, {"filename", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := logs.Sensitive(tt.key); got != tt.want {
				t.Errorf("Sensitive(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func TestLevel(t *testing.T) {
	var buf bytes.Buffer
	l := logs.New(&buf, slog.LevelInfo)
	l.Debug("hidden")
	l.Info("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
		t.Errorf("level filtering wrong:\n%s", buf.String())
	}
}

func BenchmarkLogLine(b *testing.B) {
	l := logs.New(io.Discard, slog.LevelInfo)
	b.ReportAllocs()
	for b.Loop() {
		l.Info("request", logs.KeyMethod, "GET", logs.KeyRoute, "GET /{$}", logs.KeyStatus, 200,
			logs.KeyRequestID, "4f9c2b7a1e3d4c5b8a69f0e1d2c3b4a5", "email", "x@example.org")
	}
}
