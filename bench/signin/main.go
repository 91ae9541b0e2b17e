// Command signin measures sign-in with a second factor: how many complete
// sign-ins (password, TOTP code, sign-out) the server does per second with
// the production argon2id cost, and how an authenticated page's latency
// holds up while one address floods the sign-in endpoint.
//
// `signin run` (the default) prepares a data directory once (demo data and
// many patient accounts, each with its own password and TOTP secret), then
// for each phase starts `signin server` as a child process on a fresh copy
// of it and drives HTTPS traffic at it over loopback. The server is the
// product's app.Serve with real sign-in: nothing in it is replaced.
// See bench/README.md.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "signin:", err)
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
