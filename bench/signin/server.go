package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"

	"uroportal/bench/internal/harness"
	"uroportal/internal/app"
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
	srv := harness.Server{Name: "signin server", Stderr: stderr}
	srv.Flags(fl)
	fl.StringVar(&srv.EndpointFile, "endpoint-file", "", "where to write the bound address once listening (required)")
	profile := fl.String("profile", "", "path prefix of CPU profiles taken between SIGUSR1 and SIGUSR2")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if srv.Data == "" || srv.EndpointFile == "" {
		return errors.New("signin server: -data and -endpoint-file are required")
	}
	ds, err := readDataset(srv.Data)
	if err != nil {
		return fmt.Errorf("signin server: %s is not a prepared data directory (run `signin run` first): %w", srv.Data, err)
	}
	if err := srv.Configure(ds.Patients, ds.Seed); err != nil {
		return err
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
	return srv.Serve(ctx, stop, app.ServeOptions{Options: app.Options{Argon2: &argon}}, func(b web.Bound) any {
		return endpoint{Addr: b.Addr, PID: os.Getpid()}
	})
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
