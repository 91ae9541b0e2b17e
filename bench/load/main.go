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
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "server":
			return serverMain(args[1:], stderr)
		case "run":
			args = args[1:]
		}
	}
	return driverMain(args, stdout, stderr)
}
