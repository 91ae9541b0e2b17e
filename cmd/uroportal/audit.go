package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"uroportal/internal/app"
	"uroportal/internal/config"
)

const auditUsage = `usage: uroportal audit verify [--data DIR] [--database URL]
       uroportal audit archive --before YYYY-MM-DD --out FILE [--purge] [--data DIR] [--database URL]`

func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "archive" {
		var before, out string
		var purge bool
		cfg, rest, err := loadConfigWith("audit archive", args[1:], config.FlagData, stderr, func(fs *flag.FlagSet) {
			fs.StringVar(&before, "before", "", "archive events before this date (outside the six-year retention period)")
			fs.StringVar(&out, "out", "", "archive file to write (must not exist)")
			fs.BoolVar(&purge, "purge", false, "after writing and checking the archive, remove the archived events from the database")
		})
		if err != nil {
			return err
		}
		if len(rest) != 0 || before == "" || out == "" {
			fmt.Fprintln(stderr, auditUsage)
			return errUsage
		}
		return app.AuditArchive(ctx, cfg, before, out, purge, stdout)
	}
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, auditUsage)
		return errUsage
	}
	cfg, rest, err := loadConfig("audit verify", args[1:], config.FlagData, stderr)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		fmt.Fprintln(stderr, auditUsage)
		return errUsage
	}
	return app.AuditVerify(ctx, cfg, stdout)
}
