// Command load measures what field encryption costs the lab results page.
//
// `load run` (the default) prepares a data directory of demo patients once,
// then, for each variant, starts `load server` as a child process over it
// and drives HTTPS requests for one patient's results page, reporting
// requests per second, latency percentiles and the server's peak resident
// memory. The "encrypted" variant is the product's handler path as it is;
// "plain" is the same path reading an unencrypted copy of the results.
// See bench/README.md.
//
// This program is a benchmark harness: its bearer-token authenticator and
// the unencrypted copy exist only here, never in the product binary.
package main

import (
	"io"

	"uroportal/bench/internal/harness"
)

var command = harness.Command{Name: "load", Driver: driverMain, Server: serverMain}

func main() { command.Main() }

func run(args []string, stdout, stderr io.Writer) error { return command.Run(args, stdout, stderr) }
