package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"uroportal/internal/access"
	"uroportal/internal/app"
	"uroportal/internal/config"
	"uroportal/internal/fault"
	"uroportal/internal/logs"
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
	dir := fl.String("data", "", "prepared data directory (required)")
	variant := fl.String("variant", "encrypted", "encrypted or plain")
	addr := fl.String("addr", "127.0.0.1:0", "HTTPS address (loopback)")
	tokenFile := fl.String("token-file", "", "where to write the address, token and patient ID once listening (required)")
	logLevel := fl.String("log-level", "warn", "server log level: debug, info, warn or error")
	cpuProfile := fl.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *tokenFile == "" {
		return errors.New("load server: -data and -token-file are required")
	}
	ds, err := readDataset(*dir)
	if err != nil {
		return fmt.Errorf("load server: %s is not a prepared data directory (run `load run` first): %w", *dir, err)
	}
	var opts app.Options
	switch *variant {
	case "encrypted":
	case "plain":
		opts.Results = plainResults{}
	default:
		return fmt.Errorf("load server: -variant %q: use encrypted or plain", *variant)
	}
	cfg := benchConfig(*dir, ds.Patients, ds.Seed)
	cfg.Addr, cfg.LogLevel = *addr, *logLevel
	if err := cfg.Validate(0); err != nil { // FlagServe would insist on an admin address
		return err
	}
	if !config.IsLoopback(cfg.Addr) {
		return fmt.Errorf("load server: -addr %s is not a loopback address", cfg.Addr)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("load server: -log-level: %w", err)
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
	actor := access.Actor{UserID: ds.ClinicianID, Role: access.Clinician}
	ready := make(chan error, 1)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = app.Serve(ctx, cfg, logs.New(stderr, level), app.ServeOptions{
		Options:      opts,
		Authenticate: bearer(token, actor),
		Stderr:       stderr,
		Ready: func(b web.Bound) {
			err := writeJSON(*tokenFile, endpoint{Addr: b.Addr, Token: token, BenchPatientID: ds.BenchPatientID, BenchResults: ds.BenchResults, PID: os.Getpid()})
			if err != nil {
				fmt.Fprintf(stderr, "load server: %v\n", err)
				stop() // the server exits, and the driver reports that it never became ready
			}
			ready <- err
		},
	})
	if err == nil {
		select {
		case err = <-ready:
		default:
		}
	}
	return err
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

// writeJSON writes v to path (mode 0600) by rename, so a reader never sees
// half a file.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
