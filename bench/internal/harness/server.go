package harness

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"uroportal/internal/app"
	"uroportal/internal/config"
	"uroportal/internal/logs"
	"uroportal/internal/web"
)

// Server is what the `server` subcommands share: the portal over a
// prepared data directory on a loopback address, telling the driver where
// it listens through an endpoint file (see StartChild).
type Server struct {
	// Name is the subcommand, as "load server"; it prefixes messages.
	Name string
	// Stderr receives the server's JSON log and messages.
	Stderr io.Writer
	// Data, Addr and LogLevel are the -data, -addr and -log-level flags.
	Data, Addr, LogLevel string
	// EndpointFile is where Serve writes the endpoint; each program names
	// its own flag for it.
	EndpointFile string

	cfg   config.Config
	level slog.Level
}

// Flags adds -data, -addr and -log-level to fl.
func (s *Server) Flags(fl *flag.FlagSet) {
	fl.StringVar(&s.Data, "data", "", "prepared data directory (required)")
	fl.StringVar(&s.Addr, "addr", "127.0.0.1:0", "HTTPS address (loopback)")
	fl.StringVar(&s.LogLevel, "log-level", "warn", "server log level: debug, info, warn or error")
}

// Configure makes and checks the configuration Serve runs with: Config for
// s.Data with the patients and seed it was prepared with, at s.Addr, which
// must be a loopback address, logging at s.LogLevel.
func (s *Server) Configure(patients int, seed uint64) error {
	cfg := Config(s.Data, patients, seed)
	cfg.Addr, cfg.LogLevel = s.Addr, s.LogLevel
	if err := cfg.Validate(0); err != nil { // FlagServe would insist on an admin address
		return err
	}
	if !config.IsLoopback(cfg.Addr) {
		return fmt.Errorf("%s: -addr %s is not a loopback address", s.Name, cfg.Addr)
	}
	if err := s.level.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return fmt.Errorf("%s: -log-level: %w", s.Name, err)
	}
	s.cfg = cfg
	return nil
}

// Serve runs the portal with opts until ctx ends; stop must end ctx. Once
// it listens it writes endpoint(bound addresses) as JSON to s.EndpointFile.
// If it cannot, it says so and calls stop: the server exits, and the
// driver reports that it never became ready.
func (s *Server) Serve(ctx context.Context, stop context.CancelFunc, opts app.ServeOptions, endpoint func(web.Bound) any) error {
	ready := make(chan error, 1)
	opts.Stderr = s.Stderr
	opts.Ready = func(b web.Bound) {
		err := WriteJSON(s.EndpointFile, endpoint(b))
		if err != nil {
			fmt.Fprintf(s.Stderr, "%s: %v\n", s.Name, err)
			stop()
		}
		ready <- err
	}
	err := app.Serve(ctx, s.cfg, logs.New(s.Stderr, s.level), opts)
	if err == nil {
		select {
		case err = <-ready:
		default:
		}
	}
	return err
}
