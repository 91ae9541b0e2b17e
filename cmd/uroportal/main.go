// Command uroportal is the patient portal: one binary whose subcommands serve
// the portal and run its operator tasks. main only parses the command line
// and calls internal/app.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"uroportal/internal/config"
)

const usage = `usage: uroportal <command> [flags]

commands:
  serve    run the portal (HTTPS) and its admin listener
  migrate  apply database migrations
  demo     fill an empty database with synthetic demo data
  keys     status | rotate | rewrap | retire VERSION
  users    create | disable | enable | unlock | end-sessions
  audit    verify

Run "uroportal <command> -h" for a command's flags.
`

// errUsage marks a bad command line: exit status 2.
var errUsage = errors.New("usage")

type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

var commands = map[string]command{
	"serve":   serveCmd,
	"migrate": migrateCmd,
	"demo":    demoCmd,
	"keys":    keysCmd,
	"users":   usersCmd,
	"audit":   auditCmd,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "uroportal: unknown command %q\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	// One clear line.
	fmt.Fprintf(stderr, "uroportal: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	return 1
}

// loadConfig reads the environment, then the flags of set, then validates.
func loadConfig(name string, args []string, set config.Set, stderr io.Writer) (config.Config, []string, error) {
	return loadConfigWith(name, args, set, stderr, nil)
}

// loadConfigWith is loadConfig with a subcommand's own extra flags.
func loadConfigWith(name string, args []string, set config.Set, stderr io.Writer, extra func(*flag.FlagSet)) (config.Config, []string, error) {
	cfg := config.Default()
	if err := cfg.FromEnv(os.Getenv); err != nil {
		return cfg, nil, err
	}
	fs := flag.NewFlagSet("uroportal "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.Bind(fs, set)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, nil, err
		}
		return cfg, nil, errUsage
	}
	if err := cfg.Validate(set); err != nil {
		return cfg, nil, err
	}
	return cfg, fs.Args(), nil
}
