package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"uroportal/internal/app"
	"uroportal/internal/config"
	"uroportal/internal/store"
)

// Config is the configuration both processes open a benchmark data
// directory with: the defaults, SQLite in dir, no admin listener.
func Config(dir string, patients int, seed uint64) config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.DemoPatients = patients
	cfg.DemoSeed = seed
	cfg.AdminAddr = ""
	return cfg
}

// DiscardLogger is a logger that drops everything.
func DiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Prepared reads the marker file of a prepared data directory into v and
// reports true. It reports false and no error when dir does not exist or
// is empty, so is to be prepared, and an error when dir holds files but no
// marker (an interrupted preparation) or a marker it cannot read.
func Prepared(dir, marker string, v any) (bool, error) {
	err := ReadJSON(filepath.Join(dir, marker), v)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return false, fmt.Errorf("bench: %s exists but has no %s (an interrupted preparation?); remove it or choose another -data", dir, marker)
	}
	return false, nil
}

// OpenToPrepare opens the portal over a data directory to prepare it: the
// configuration of Config, checked for data and demo, logging discarded.
func OpenToPrepare(ctx context.Context, dir string, patients int, seed uint64, opts app.Options) (*app.App, error) {
	cfg := Config(dir, patients, seed)
	if err := cfg.Validate(config.FlagData | config.FlagDemo); err != nil {
		return nil, err
	}
	return app.Open(ctx, cfg, DiscardLogger(), opts)
}

// PatientIDs are the IDs of every patient, in order.
func PatientIDs(ctx context.Context, q store.Querier) ([]string, error) {
	var ids []string
	rows, err := q.QueryContext(ctx, `SELECT id FROM patients ORDER BY id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return ids, nil
}

// ReadJSON decodes the JSON file at path into v. An error reading the file
// is returned as it is, so errors.Is(err, fs.ErrNotExist) holds when there
// is no file.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("bench: %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes v as one line of JSON to path (mode 0600) by rename, so
// a reader never sees half a file.
func WriteJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFile(path, b)
}

// WriteJSONIndent writes v as indented JSON, ending in a newline, to path
// (mode 0600) by rename, so a reader never sees half a file.
func WriteJSONIndent(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(b, '\n'))
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CopyDir copies the regular files of a prepared data directory (a closed
// SQLite database, its key file, certificate and markers) to a new
// directory.
func CopyDir(from, to string) error {
	if err := os.Mkdir(to, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
