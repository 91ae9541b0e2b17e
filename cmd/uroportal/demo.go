package main

import (
	"context"
	"io"

	"uroportal/internal/app"
	"uroportal/internal/config"
)

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("demo", args, config.FlagData|config.FlagDemo, stderr)
	if err != nil {
		return err
	}
	return app.Demo(ctx, cfg, stdout, stderr)
}
