package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"

	"uroportal/internal/app"
	"uroportal/internal/config"
	"uroportal/internal/logs"
	"uroportal/internal/web"
)

// endpoint is what the server process tells the driver once it listens.
type endpoint struct {
	Addr string `json:"addr"`
	PID  int    `json:"pid"`
}

// serverMain runs `signin server`: the portal over a prepared data
// directory, with its own sign-in, until SIGTERM or SIGINT.
//
// With -profile PREFIX, SIGUSR1 starts a CPU profile (PREFIX-N.pprof, N
// counting from 1) and SIGUSR2 stops it and writes the goroutines of that
// moment to PREFIX-N.goroutines.txt, so the driver can profile exactly the
// window it measures.
func serverMain(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("signin server", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("data", "", "prepared data directory (required)")
	addr := fl.String("addr", "127.0.0.1:0", "HTTPS address (loopback)")
	endpointFile := fl.String("endpoint-file", "", "where to write the bound address once listening (required)")
	logLevel := fl.String("log-level", "warn", "server log level: debug, info, warn or error")
	profile := fl.String("profile", "", "path prefix of CPU profiles taken between SIGUSR1 and SIGUSR2")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *endpointFile == "" {
		return errors.New("signin server: -data and -endpoint-file are required")
	}
	ds, err := readDataset(*dir)
	if err != nil {
		return fmt.Errorf("signin server: %s is not a prepared data directory (run `signin run` first): %w", *dir, err)
	}
	cfg := benchConfig(*dir, ds.Patients, ds.Seed)
	cfg.Addr, cfg.LogLevel = *addr, *logLevel
	if err := cfg.Validate(0); err != nil { // FlagServe would insist on an admin address
		return err
	}
	if !config.IsLoopback(cfg.Addr) {
		return fmt.Errorf("signin server: -addr %s is not a loopback address", cfg.Addr)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("signin server: -log-level: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *profile != "" {
		p := &profiler{prefix: *profile, stderr: stderr}
		sig := make(chan os.Signal, 4)
		signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
		defer signal.Stop(sig)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case s := <-sig:
					p.handle(s)
				}
			}
		}()
		defer p.stop()
	}

	// The hashing cost the accounts were made with; the product default
	// unless the data says otherwise (the test's cheap data), so no sign-in
	// rehashes.
	argon := ds.Argon2
	ready := make(chan error, 1)
	err = app.Serve(ctx, cfg, logs.New(stderr, level), app.ServeOptions{
		Options: app.Options{Argon2: &argon},
		Stderr:  stderr,
		Ready: func(b web.Bound) {
			err := writeEndpoint(*endpointFile, endpoint{Addr: b.Addr, PID: os.Getpid()})
			if err != nil {
				fmt.Fprintf(stderr, "signin server: %v\n", err)
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

// profiler takes CPU profiles between SIGUSR1 and SIGUSR2.
type profiler struct {
	mu     sync.Mutex
	prefix string
	stderr io.Writer
	n      int
	f      *os.File
}

func (p *profiler) handle(s os.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case syscall.SIGUSR1:
		if p.f != nil {
			return
		}
		p.n++
		f, err := os.Create(fmt.Sprintf("%s-%d.pprof", p.prefix, p.n))
		if err != nil {
			fmt.Fprintf(p.stderr, "signin server: profile: %v\n", err)
			return
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(p.stderr, "signin server: profile: %v\n", err)
			f.Close()
			return
		}
		p.f = f
	case syscall.SIGUSR2:
		if p.f == nil {
			return
		}
		if g, err := os.Create(fmt.Sprintf("%s-%d.goroutines.txt", p.prefix, p.n)); err == nil {
			pprof.Lookup("goroutine").WriteTo(g, 1)
			g.Close()
		}
		p.stopLocked()
	}
}

func (p *profiler) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

func (p *profiler) stopLocked() {
	if p.f == nil {
		return
	}
	pprof.StopCPUProfile()
	p.f.Close()
	p.f = nil
}

// writeEndpoint writes v to path (mode 0600) by rename.
func writeEndpoint(path string, v endpoint) error {
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
