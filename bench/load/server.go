package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"uroportal/bench/internal/harness"
	"uroportal/internal/access"
	"uroportal/internal/app"
	"uroportal/internal/audit"
	"uroportal/internal/config"
	"uroportal/internal/fault"
	"uroportal/internal/web"
)

// endpoint is what the server process tells the driver once it listens.
type endpoint struct {
	Addr           string `json:"addr"`
	Token          string `json:"token"`
	BenchPatientID string `json:"bench_patient_id"`
	BenchResults   int    `json:"bench_results"`
	PID            int    `json:"pid"`
}

// serverMain runs `load server`: the portal over a prepared data directory,
// with a bearer-token authenticator standing in for sign-in, until SIGTERM
// or SIGINT.
func serverMain(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("load server", flag.ContinueOnError)
	fl.SetOutput(stderr)
	srv := harness.Server{Name: "load server", Stderr: stderr}
	srv.Flags(fl)
	variant := fl.String("variant", "encrypted", "encrypted, plain, patient-audited or patient-unaudited")
	fl.StringVar(&srv.EndpointFile, "token-file", "", "where to write the address, token and patient ID once listening (required)")
	cpuProfile := fl.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if srv.Data == "" || srv.EndpointFile == "" {
		return errors.New("load server: -data and -token-file are required")
	}
	ds, err := readDataset(srv.Data)
	if err != nil {
		return fmt.Errorf("load server: %s is not a prepared data directory (run `load run` first): %w", srv.Data, err)
	}
	var opts app.Options
	actor := access.Actor{UserID: ds.ClinicianID, Role: access.Clinician}
	switch *variant {
	case "encrypted":
	case "plain":
		opts.Results = plainResults{}
	case "patient-audited", "patient-unaudited":
		// The patient reads their own results; the security officer's
		// setting decides whether such views are recorded, so the two
		// variants differ only in the audit write.
		actor = access.Actor{UserID: "bench-patient", Role: access.Patient, PatientID: ds.BenchPatientID}
	default:
		return fmt.Errorf("load server: -variant %q: use encrypted, plain, patient-audited or patient-unaudited", *variant)
	}
	if err := srv.Configure(ds.Patients, ds.Seed); err != nil {
		return err
	}
	if strings.HasPrefix(*variant, "patient-") {
		if err := setOwnViews(srv.Data, *variant == "patient-audited"); err != nil {
			return err
		}
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	token, err := newToken()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Serve(ctx, stop, app.ServeOptions{Options: opts, Authenticate: bearer(token, actor)}, func(b web.Bound) any {
		return endpoint{Addr: b.Addr, Token: token, BenchPatientID: ds.BenchPatientID, BenchResults: ds.BenchResults, PID: os.Getpid()}
	})
}

// bearer authenticates "Authorization: Bearer <token>" as actor and refuses
// anything else. It is the benchmark's stand-in for sign-in and exists only
// in this program.
func bearer(token string, actor access.Actor) func(*http.Request) (access.Actor, error) {
	want := []byte("Bearer " + token)
	return func(r *http.Request) (access.Actor, error) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			return access.Actor{}, fault.E(fault.Unauthenticated, "Please sign in.", nil)
		}
		return actor, nil
	}
}

// newToken is a random 256-bit token, hex-encoded.
func newToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// setOwnViews sets whether patients' views of their own records are
// recorded, the way the security officer does (the change is audited).
func setOwnViews(dir string, on bool) error {
	cfg := config.Default()
	cfg.DataDir = dir
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Audit.ChangeSetting(context.Background(), access.Actor{UserID: "bench-security-officer", Role: access.Security}, audit.SettingOwnViews, on)
}
