package main

import (
	"context"
	"io"
	"log/slog"

	"uroportal/internal/app"
	"uroportal/internal/config"
	"uroportal/internal/logs"
)

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("serve", args, config.FlagData|config.FlagServe, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	return app.Serve(ctx, cfg, logs.New(stderr, level), app.ServeOptions{Stderr: stderr})
}
