// Package storetest opens real databases for tests: SQLite in a temporary
// directory and PostgreSQL in a fresh database created for the test and
// dropped after it. There are no mocked databases.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"uroportal/internal/store"
)

// DefaultPostgresURL is used when UROPORTAL_TEST_POSTGRES is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Dialects lists the engines every store suite runs against.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// Each runs fn once per engine as a subtest, with a fresh migrated database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, MustOpen(t, d))
		})
	}
}

// MustOpen returns a fresh, migrated database of the given engine. A
// PostgreSQL test with no server skips, or fails when CI=true.
func MustOpen(tb testing.TB, d store.Dialect) *store.DB {
	tb.Helper()
	var db *store.DB
	if d == store.Postgres {
		db = openPostgres(tb, PostgresURL(tb))
	} else {
		var err error
		db, err = store.Open(context.Background(), "", tb.TempDir())
		if err != nil {
			tb.Fatalf("open sqlite: %v", err)
		}
		tb.Cleanup(func() { db.Close() })
	}
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// PostgresURL returns the URL of a fresh, empty PostgreSQL database made for
// this test and dropped when it ends.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv("UROPORTAL_TEST_POSTGRES")
	if admin == "" {
		admin = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adb, err := sql.Open("pgx", admin)
	if err == nil {
		err = adb.PingContext(ctx)
	}
	if err != nil {
		if adb != nil {
			adb.Close()
		}
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required in CI but not reachable at %s: %v", store.RedactURL(admin), err)
		}
		tb.Skipf("skipping: no PostgreSQL at %s (%v); set UROPORTAL_TEST_POSTGRES to run these tests", store.RedactURL(admin), err)
	}
	var b [8]byte
	rand.Read(b[:])
	name := "uroportal_t_" + hex.EncodeToString(b[:])
	if _, err := adb.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		adb.Close()
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adb.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop test database %s: %v", name, err)
		}
		adb.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("UROPORTAL_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func openPostgres(tb testing.TB, u string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), u, "")
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
