package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"uroportal/internal/app"
	"uroportal/internal/config"
)

func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: uroportal keys status|rotate|rewrap|retire VERSION [--data DIR] [--database URL]")
		return errUsage
	}
	action, flags := args[0], args[1:]
	var version []string
	// The version may come before or after the flags.
	if len(flags) > 0 && !strings.HasPrefix(flags[0], "-") {
		version, flags = flags[:1], flags[1:]
	}
	cfg, rest, err := loadConfig("keys "+action, flags, config.FlagData, stderr)
	if err != nil {
		return err
	}
	rest = append(version, rest...)
	switch {
	case action == "retire" && len(rest) == 1:
	case (action == "status" || action == "rotate" || action == "rewrap") && len(rest) == 0:
	default:
		fmt.Fprintln(stderr, "usage: uroportal keys status|rotate|rewrap|retire VERSION [--data DIR] [--database URL]")
		return errUsage
	}
	return app.Keys(ctx, cfg, action, rest, stdout, stderr)
}
