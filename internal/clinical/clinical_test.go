package clinical

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"uroportal/internal/logs"
)

// Logging a patient or a result, even by mistake, shows IDs only.
func TestRecordsLogNoPHI(t *testing.T) {
	var buf bytes.Buffer
	log := logs.New(&buf, slog.LevelDebug)
	p := Patient{ID: "p-1", MRN: "DEMO-000042", FamilyName: "Sampleton", GivenName: "Arlo", BirthDate: "1951-02-03",
		Address: "1 Example Street", Phone: "555-0142", Email: "arlo@example.org"}
	r := LabResult{ID: "r-1", PatientID: "p-1", Code: "2857-1", Name: "PSA, total", Value: "17.35", CollectedAt: time.Now()}
	log.Info("saw", "who", p, "what", r, slog.Any("both", []any{p, r}))
	out := buf.String()
	for _, s := range []string{"DEMO-000042", "Sampleton", "Arlo", "1951-02-03", "Example Street", "555-0142", "arlo@", "17.35", "PSA"} {
		if strings.Contains(out, s) {
			t.Errorf("log line carries %q: %s", s, out)
		}
	}
	if !strings.Contains(out, "p-1") {
		t.Errorf("log line lost the patient ID: %s", out)
	}
}

func TestNormalize(t *testing.T) {
	if NormalizeMRN("  demo-0001 ") != "DEMO-0001" || NormalizeCode(" 2857-1") != "2857-1" {
		t.Fatal("normalization")
	}
}
