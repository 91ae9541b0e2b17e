package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"uroportal/bench/internal/harness"
	"uroportal/internal/access"
	"uroportal/internal/app"
	"uroportal/internal/fault"
	"uroportal/internal/identity"
)

// TestMain lets the end-to-end test re-execute this test binary as the
// benchmark's server process, as `load run` re-executes `load`.
func TestMain(m *testing.M) { command.TestMain(m) }

func TestBearer(t *testing.T) {
	actor := access.Actor{UserID: "u1", Role: access.Clinician}
	auth := bearer("secret", actor)
	for _, c := range []struct {
		header string
		ok     bool
	}{
		{"Bearer secret", true},
		{"", false},
		{"Bearer secre", false},
		{"Bearer secret2", false},
		{"bearer secret", false},
	} {
		r := httptest.NewRequest("GET", "/patients/x/results", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		got, err := auth(r)
		switch {
		case c.ok && (err != nil || got != actor):
			t.Errorf("%q: got %v, %v; want the actor", c.header, got, err)
		case !c.ok && fault.KindOf(err) != fault.Unauthenticated:
			t.Errorf("%q: got %v, %v; want an Unauthenticated fault", c.header, got, err)
		}
	}
}

// TestEndToEnd prepares a tiny data directory, checks that the plain copy
// reads back exactly what the encrypted table holds, and runs both variants
// for a moment through the real server process; the driver fails if any
// response is not the bench patient's full table.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	cheap := &identity.Argon2Params{MemoryKiB: 1024, Passes: 1, Threads: 1}
	ds, err := prepare(ctx, prepOptions{Dir: dir, Patients: 3, Seed: 7, Argon2: cheap}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if ds.BenchPatientID == "" || ds.ClinicianID == "" || ds.BenchResults != benchResults || ds.PlainRows <= benchResults {
		t.Fatalf("dataset %+v", ds)
	}

	actor := access.Actor{UserID: ds.ClinicianID, Role: access.Clinician}
	read := func(opt app.Options) []string {
		t.Helper()
		opt.Argon2 = cheap
		a, err := app.Open(ctx, harness.Config(dir, ds.Patients, ds.Seed), harness.DiscardLogger(), opt)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		rs, err := a.Clinical.LabResults(ctx, actor, ds.BenchPatientID, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, strings.Join([]string{r.ID, r.PatientID, r.Code, r.Name, r.Value, r.Unit, r.ReferenceRange, r.Flag, r.Status,
				r.CollectedAt.String(), r.ResultedAt.String(), r.OrderingClinician}, "|"))
		}
		return out
	}
	enc, plain := read(app.Options{}), read(app.Options{Results: plainResults{}})
	if len(enc) != benchResults {
		t.Fatalf("the bench patient has %d results, want %d", len(enc), benchResults)
	}
	if !reflect.DeepEqual(enc, plain) {
		t.Fatal("the plain copy differs from the encrypted results")
	}

	var out, errOut bytes.Buffer
	err = run([]string{"-data", dir, "-patients", "3", "-seed", "7", "-warmup", "0s", "-duration", "300ms", "-concurrency", "2"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"| encrypted | ", "| plain | ", "| encrypted / plain | "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// A variant's protocol is only known from a correct response.
	if n := strings.Count(out.String(), " HTTP/1.1 "); n != 2 {
		t.Errorf("%d variants had a correct HTTP/1.1 response, want 2:\n%s", n, out.String())
	}
}
