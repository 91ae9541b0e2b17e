package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrations are numbered, forward-only SQL files written in the subset of SQL
// that SQLite and PostgreSQL share (TEXT, BIGINT, BYTEA, times as Unix
// milliseconds). schema.sql beside them is the checked-in snapshot of the
// result.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrNewerSchema means the database was migrated by a newer Uroportal.
var ErrNewerSchema = errors.New("store: database schema is newer than this program")

func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		// Several nodes may start at once; one migrates, the others wait.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, db.DB, sub, opts...)
}

// SchemaVersion reports the database's migration version and the newest
// version this program knows.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("store: read schema version: %w", err)
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

// Migrate applies every pending migration. It refuses a database migrated by
// a newer program, which this one could damage.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	srcs := p.ListSources()
	latest := srcs[len(srcs)-1].Version
	if current > latest {
		return fmt.Errorf("%w: the database is at schema version %d but this uroportal knows only up to %d; run the newer uroportal that migrated it, or restore a backup made by this version", ErrNewerSchema, current, latest)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// CheckCurrent returns an error unless every migration is applied; /readyz
// uses it.
func (db *DB) CheckCurrent(ctx context.Context) error {
	current, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current != latest {
		return fmt.Errorf("schema version %d, want %d", current, latest)
	}
	return nil
}
