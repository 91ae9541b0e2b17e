// Package harness is what the benchmark programs under bench/ share: a
// driver (`NAME run`, the default) that prepares a data directory once,
// copies it fresh for each server, re-executes its own program as
// `NAME server` in a child process over that copy, waits for the child's
// endpoint file, drives HTTPS traffic at it and reports latency
// percentiles and the child's CPU time and peak memory.
//
// It is benchmark code only: nothing in the product imports it.
package harness

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Command is a benchmark program with its two subcommands.
type Command struct {
	// Name is the program's name; it prefixes the error that ends it.
	Name string
	// Driver runs `NAME run`, also what NAME without a subcommand does.
	Driver func(args []string, stdout, stderr io.Writer) error
	// Server runs `NAME server`, the child process the driver starts.
	Server func(args []string, stderr io.Writer) error
}

// Run dispatches args: "server" and its flags to c.Server; "run" and its
// flags, or flags alone, to c.Driver.
func (c Command) Run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "server":
			return c.Server(args[1:], stderr)
		case "run":
			args = args[1:]
		}
	}
	return c.Driver(args, stdout, stderr)
}

// Main runs the program with os.Args and exits with status 1 if it fails.
func (c Command) Main() {
	c.exitOnError(c.Run(os.Args[1:], os.Stdout, os.Stderr))
}

// TestMain is the program's TestMain: it lets an end-to-end test
// re-execute the test binary as the server process, as the driver
// re-executes the program, and otherwise runs the tests.
func (c Command) TestMain(m interface{ Run() int }) {
	if len(os.Args) > 1 && os.Args[1] == "server" {
		c.exitOnError(c.Run(os.Args[1:], os.Stdout, os.Stderr))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func (c Command) exitOnError(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, c.Name+":", err)
		os.Exit(1)
	}
}

// WrongResponses is the error that ends a run in which some responses were
// wrong, one line of wrong each; nil if there were none.
func WrongResponses(wrong []string) error {
	if len(wrong) == 0 {
		return nil
	}
	return fmt.Errorf("WRONG RESPONSES, the figures above are not valid:\n  %s", strings.Join(wrong, "\n  "))
}
