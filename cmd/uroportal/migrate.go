package main

import (
	"context"
	"io"

	"uroportal/internal/app"
	"uroportal/internal/config"
)

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("migrate", args, config.FlagData, stderr)
	if err != nil {
		return err
	}
	return app.Migrate(ctx, cfg, stdout)
}
