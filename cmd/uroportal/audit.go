package main

import (
	"context"
	"fmt"
	"io"

	"uroportal/internal/app"
	"uroportal/internal/config"
)

func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: uroportal audit verify [--data DIR] [--database URL]")
		return errUsage
	}
	cfg, rest, err := loadConfig("audit verify", args[1:], config.FlagData, stderr)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		fmt.Fprintln(stderr, "usage: uroportal audit verify [--data DIR] [--database URL]")
		return errUsage
	}
	return app.AuditVerify(ctx, cfg, stdout)
}
