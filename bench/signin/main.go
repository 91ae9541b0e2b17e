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
	"io"

	"uroportal/bench/internal/harness"
)

var command = harness.Command{Name: "signin", Driver: driverMain, Server: serverMain}

func main() { command.Main() }

func run(args []string, stdout, stderr io.Writer) error { return command.Run(args, stdout, stderr) }
