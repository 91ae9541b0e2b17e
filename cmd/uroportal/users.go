package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"uroportal/internal/app"
	"uroportal/internal/config"
)

const usersUsage = `usage: uroportal users create --role ROLE --email EMAIL [--name NAME] [--password-stdin] [--data DIR] [--database URL]
       uroportal users disable|enable|unlock|end-sessions EMAIL [--data DIR] [--database URL]`

func usersCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usersUsage)
		return errUsage
	}
	action, rest := args[0], args[1:]
	switch action {
	case "create":
		var role, email, name string
		var fromStdin bool
		cfg, extra, err := loadConfigWith("users create", rest, config.FlagData, stderr, func(fs *flag.FlagSet) {
			fs.StringVar(&role, "role", "", "patient, proxy, clinician, nurse, frontdesk, billing, admin, security or auditor")
			fs.StringVar(&email, "email", "", "the person's email (their sign-in name)")
			fs.StringVar(&name, "name", "", "the person's name as staff see it")
			fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input instead of generating one")
		})
		if err != nil {
			return err
		}
		if len(extra) != 0 || role == "" || email == "" {
			fmt.Fprintln(stderr, usersUsage)
			return errUsage
		}
		var password string
		if fromStdin {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("no password on standard input")
			}
			password = strings.TrimRight(line, "\r\n")
		}
		return app.CreateUser(ctx, cfg, role, email, name, password, stdout)
	case "disable", "enable", "unlock", "end-sessions":
		var email []string
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			email, rest = rest[:1], rest[1:]
		}
		cfg, extra, err := loadConfig("users "+action, rest, config.FlagData, stderr)
		if err != nil {
			return err
		}
		email = append(email, extra...)
		if len(email) != 1 {
			fmt.Fprintln(stderr, usersUsage)
			return errUsage
		}
		return app.AdminUser(ctx, cfg, action, email[0], stdout)
	}
	fmt.Fprintln(stderr, usersUsage)
	return errUsage
}
