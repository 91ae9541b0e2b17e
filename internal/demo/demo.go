// Package demo makes synthetic, obviously fictional urology patients and one
// login per role, deterministic by seed, so the portal can be tried and
// measured without real PHI.
package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"uroportal/internal/clinical"
)

// LOINC codes and units (see DATA-SOURCES.md).
const (
	CodePSA          = "2857-1"
	CodeFreePSA      = "10886-0"
	CodeTestosterone = "2986-8"
	CodeCreatinine   = "2160-0"
	CodeEGFR         = "98979-8"
	CodeUrinalysis   = "24356-8"
	CodeUrineCulture = "630-4"
)

// PSA patterns, one per patient in turn.
const (
	PSASteady = iota
	PSASlowRise
	PSARapidRise
	PSAPostProstatectomy
	PSARecurrence
	psaPatterns
)

var givenMale = []string{"Arlo", "Bertram", "Cyrus", "Desmond", "Elmer", "Fitz", "Gideon", "Hollis", "Ignatius", "Jasper", "Lysander", "Mortimer", "Osgood", "Percival", "Quincy", "Rupert", "Thaddeus", "Ulysses", "Virgil", "Wendell"}
var givenFemale = []string{"Ada", "Beatrix", "Clementine", "Dorothea", "Eudora", "Florentine", "Georgiana", "Henrietta", "Imogen", "Juniper"}
var family = []string{"Sampleton", "Testwood", "Placeholder", "Mockridge", "Fakeley", "Demoson", "Synthetica", "Fictus", "Exampleby", "Madeupson", "Notreal", "Specimenski", "Dummerton", "Pretendo", "Trialworth"}

// Generator makes patients deterministically from a seed.
type Generator struct {
	rng *rand.Rand
	// Now anchors result dates: results fall in the years before it.
	Now time.Time
	// ids come from the same seed, so a seed gives the same records.
	idrng *rand.Rand
}

// NewGenerator returns a generator for seed.
func NewGenerator(seed uint64, now time.Time) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, 0x7572_6f70)), idrng: rand.New(rand.NewPCG(seed, 0x6964_7321)), Now: now.UTC().Truncate(24 * time.Hour)}
}

func (g *Generator) id() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.idrng.UintN(256))
	}
	u, _ := uuid.FromBytes(b[:])
	u[6] = (u[6] & 0x0f) | 0x40 // version 4
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u.String()
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// Patient makes patient number i (0-based) and its lab results.
func (g *Generator) Patient(i int) (clinical.Patient, []clinical.LabResult) {
	r := g.rng
	male := i%5 != 4 // a urology practice: mostly men, some women
	p := clinical.Patient{
		ID:         g.id(),
		MRN:        fmt.Sprintf("DEMO-%06d", i+1),
		FamilyName: pick(r, family),
		Sex:        "female",
		Address:    fmt.Sprintf("%d Example Street, Anytown, ZZ 00%03d (fictional)", 1+r.IntN(999), r.IntN(1000)),
		Phone:      fmt.Sprintf("555-01%02d", r.IntN(100)), // 555-01xx is reserved for fiction
		Email:      fmt.Sprintf("demo.patient%d@example.org", i+1),
	}
	if male {
		p.Sex, p.GivenName = "male", pick(r, givenMale)
	} else {
		p.GivenName = pick(r, givenFemale)
	}
	age := 45 + r.IntN(40)
	p.BirthDate = g.Now.AddDate(-age, -r.IntN(12), -r.IntN(28)).Format("2006-01-02")

	var out []clinical.LabResult
	add := func(at time.Time, code, name, value, unit, rng, flag string) {
		out = append(out, clinical.LabResult{
			ID: g.id(), PatientID: p.ID, Code: code, Name: name, Value: value, Unit: unit, ReferenceRange: rng,
			Flag: flag, Status: clinical.StatusFinal, CollectedAt: at, ResultedAt: at.Add(time.Duration(4+r.IntN(40)) * time.Hour),
			OrderingClinician: "Dr. Demo Urologist (fictional)",
		})
	}
	visits := 4 + r.IntN(5)
	start := g.Now.AddDate(-visits/2-1, 0, 0)
	step := g.Now.Sub(start) / time.Duration(visits)
	pattern := i % psaPatterns
	for v := range visits {
		at := start.Add(time.Duration(v)*step + time.Duration(r.IntN(72))*time.Hour).Add(8 * time.Hour)
		frac := float64(v) / float64(max(visits-1, 1))
		if male {
			psa := g.psa(pattern, frac)
			flag := ""
			if psa > 4 || (pattern >= PSAPostProstatectomy && psa >= 0.2) {
				flag = clinical.FlagHigh
			}
			val := fmt.Sprintf("%.2f", psa)
			if psa < 0.01 {
				val = "<0.01"
			}
			add(at, CodePSA, "PSA, total", val, "ng/mL", "0.00–4.00", flag)
			if pattern <= PSARapidRise && v%2 == 1 {
				add(at, CodeFreePSA, "PSA, free", fmt.Sprintf("%.2f", psa*(0.12+r.Float64()*0.15)), "ng/mL", "—", "")
			}
			if v%2 == 0 {
				t := 250 + r.Float64()*600
				if pattern >= PSAPostProstatectomy && r.IntN(3) == 0 {
					t = 20 + r.Float64()*30 // on hormone therapy
				}
				add(at, CodeTestosterone, "Testosterone, total", fmt.Sprintf("%.0f", t), "ng/dL", "264–916", flagFor(t, 264, 916))
			}
		}
		cr := 0.7 + r.Float64()*0.9
		add(at, CodeCreatinine, "Creatinine, serum", fmt.Sprintf("%.2f", cr), "mg/dL", "0.74–1.35", flagFor(cr, 0.74, 1.35))
		egfr := egfrCKDEPI2021(cr, age, male)
		add(at, CodeEGFR, "eGFR (CKD-EPI 2021)", fmt.Sprintf("%.0f", egfr), "mL/min/1.73 m²", ">=60", flagFor(egfr, 60, math.Inf(1)))
		if v%2 == 1 {
			ua, flag := "Negative for blood, protein, glucose, leukocyte esterase and nitrite", ""
			if r.IntN(4) == 0 {
				ua, flag = "Trace blood; leukocyte esterase positive; nitrite positive", clinical.FlagAbnorm
			}
			add(at, CodeUrinalysis, "Urinalysis panel", ua, "", "Negative", flag)
			if flag != "" {
				add(at, CodeUrineCulture, "Urine culture", pick(r, []string{
					">100,000 CFU/mL Escherichia coli", "50,000 CFU/mL Enterococcus faecalis", "No growth at 48 hours"}), "", "No growth", clinical.FlagAbnorm)
			}
		}
	}
	return p, out
}

func flagFor(v, lo, hi float64) string {
	switch {
	case v < lo:
		return clinical.FlagLow
	case v > hi:
		return clinical.FlagHigh
	}
	return ""
}

// psa is the PSA of a pattern at fraction frac of the history, with noise.
func (g *Generator) psa(pattern int, frac float64) float64 {
	noise := 1 + (g.rng.Float64()-0.5)*0.12
	switch pattern {
	case PSASteady:
		return 1.2 * noise
	case PSASlowRise:
		return (2.0 + 4.0*frac) * noise
	case PSARapidRise:
		return 3.0 * math.Pow(2, frac*2.5) * noise
	case PSAPostProstatectomy:
		if frac < 0.2 {
			return 7.5 * noise
		}
		return 0.005
	default: // biochemical recurrence: undetectable, then rising past 0.2
		switch {
		case frac < 0.15:
			return 9.0 * noise
		case frac < 0.5:
			return 0.005
		}
		return (0.05 + (frac-0.5)*1.2) * noise
	}
}

// egfrCKDEPI2021 is the race-free 2021 CKD-EPI creatinine equation.
func egfrCKDEPI2021(scr float64, age int, male bool) float64 {
	k, a, f := 0.9, -0.302, 1.0
	if !male {
		k, a, f = 0.7, -0.241, 1.012
	}
	return 142 * math.Pow(math.Min(scr/k, 1), a) * math.Pow(math.Max(scr/k, 1), -1.200) * math.Pow(0.9938, float64(age)) * f
}
