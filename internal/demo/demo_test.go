package demo

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDeterministicBySeed(t *testing.T) {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	a, b, c := NewGenerator(7, now), NewGenerator(7, now), NewGenerator(8, now)
	for i := range 20 {
		pa, ra := a.Patient(i)
		pb, rb := b.Patient(i)
		pc, _ := c.Patient(i)
		if !reflect.DeepEqual(pa, pb) || !reflect.DeepEqual(ra, rb) {
			t.Fatalf("patient %d differs for the same seed", i)
		}
		if i == 0 && pa.ID == pc.ID {
			t.Fatal("another seed gives the same IDs")
		}
	}
}

func TestPSAPatterns(t *testing.T) {
	g := NewGenerator(1, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))
	seen := map[int]bool{}
	for i := range 20 {
		p, rs := g.Patient(i)
		if !strings.HasPrefix(p.MRN, "DEMO-") || !strings.Contains(p.Address, "fictional") || !strings.HasSuffix(p.Email, "@example.org") {
			t.Fatalf("patient %d is not obviously fictional: %+v", i, p)
		}
		var psa []float64
		codes := map[string]bool{}
		for _, r := range rs {
			codes[r.Code] = true
			if r.PatientID != p.ID || r.Status == "" || r.CollectedAt.After(g.Now.Add(72*time.Hour)) {
				t.Fatalf("bad result %+v", r)
			}
			if r.Code == CodePSA {
				v, err := strconv.ParseFloat(strings.TrimPrefix(r.Value, "<"), 64)
				if err != nil {
					t.Fatalf("PSA value %q", r.Value)
				}
				psa = append(psa, v)
			}
		}
		if !codes[CodeCreatinine] || !codes[CodeEGFR] {
			t.Fatalf("patient %d lacks kidney function results", i)
		}
		if p.Sex == "female" {
			if len(psa) != 0 {
				t.Fatalf("female patient %d has PSA results", i)
			}
			continue
		}
		first, last := psa[0], psa[len(psa)-1]
		pattern := i % psaPatterns
		seen[pattern] = true
		switch pattern {
		case PSASteady:
			if last > 2 || first > 2 {
				t.Errorf("steady PSA %v", psa)
			}
		case PSASlowRise, PSARapidRise:
			if last <= first {
				t.Errorf("rising PSA did not rise: %v", psa)
			}
		case PSAPostProstatectomy:
			if last > 0.01 || first < 1 {
				t.Errorf("post-prostatectomy PSA %v", psa)
			}
		case PSARecurrence:
			if last < 0.2 || first < 1 {
				t.Errorf("recurrence PSA %v", psa)
			}
		}
	}
	if len(seen) < 4 {
		t.Fatalf("only %d PSA patterns among male patients", len(seen))
	}
}

func TestEGFR(t *testing.T) {
	// CKD-EPI 2021: a 60-year-old man with creatinine 1.0 mg/dL has about 86.
	if got := egfrCKDEPI2021(1.0, 60, true); got < 84 || got > 88 {
		t.Fatalf("eGFR = %.1f, want about 86", got)
	}
}
