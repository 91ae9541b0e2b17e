package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"uroportal/internal/keyring"
	"uroportal/internal/store"
)

// cli runs the command line in-process and returns exit status, stdout and
// stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// oneLine checks a failure is one clear "uroportal: …" line.
func oneLine(t *testing.T, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "uroportal: ") || !strings.Contains(lines[0], want) {
		t.Fatalf("stderr = %q; want one line mentioning %q", stderr, want)
	}
}

// snapshot returns every file's bytes under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		}
		return nil
	})
	return m
}

func sameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s was created", p)
		}
	}
}

func newInstall(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, stderr := cli(t, "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate: %d %s", code, stderr)
	}
	return dir
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"serve", "--no-such-flag"}, {"keys"}, {"keys", "spin"}, {"keys", "retire"}} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, _ := cli(t, "--help"); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
}

func TestBadConfigIsOneLine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "never")
	code, _, stderr := cli(t, "serve", "--data", dir, "--demo", "--addr", "0.0.0.0:0")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, stderr, "loopback")
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("the data directory was created for a refused configuration")
	}
}

func TestWrongKEK(t *testing.T) {
	dir := newInstall(t)
	before := snapshot(t, dir)
	raw := make([]byte, 32)
	rand.Read(raw)
	t.Setenv("UROPORTAL_KEK", base64.StdEncoding.EncodeToString(raw))
	code, _, stderr := cli(t, "migrate", "--data", dir)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, stderr, "key-encryption key")
	sameFiles(t, before, snapshot(t, dir))
}

func TestCorruptedKeyFile(t *testing.T) {
	dir := newInstall(t)
	os.WriteFile(filepath.Join(dir, keyring.KEKFileName), []byte("uroportal-kek-v1:AAAA\n"), 0o600)
	before := snapshot(t, dir)
	code, _, stderr := cli(t, "keys", "status", "--data", dir)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, stderr, "corrupted")
	sameFiles(t, before, snapshot(t, dir))
}

func TestMissingKEKForExistingData(t *testing.T) {
	dir := newInstall(t)
	os.Remove(filepath.Join(dir, keyring.KEKFileName))
	before := snapshot(t, dir)
	code, _, stderr := cli(t, "migrate", "--data", dir)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, stderr, "no key-encryption key")
	sameFiles(t, before, snapshot(t, dir))
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := newInstall(t)
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	_, latest, _ := db.SchemaVersion(context.Background())
	db.ExecContext(context.Background(), `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, latest+5)
	db.Close()
	code, _, stderr := cli(t, "migrate", "--data", dir)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, stderr, "newer uroportal")
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")
	code, _, stderr := cli(t, "serve", "--data", dir, "--addr", ln.Addr().String(), "--admin-addr", "127.0.0.1:0")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, stderr, "already in use")
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("the data directory was created although the port was taken")
	}
}

func TestUnwritableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plainfile")
	os.WriteFile(file, []byte("x"), 0o600)
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		code, _, stderr := cli(t, "migrate", "--data", dir)
		if code != 1 {
			t.Fatalf("%s: exit %d", dir, code)
		}
		oneLine(t, stderr, "data directory")
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Fatal("the file was changed")
	}
}

func TestKeysCommands(t *testing.T) {
	dir := newInstall(t)
	code, out, stderr := cli(t, "keys", "status", "--data", dir)
	if code != 0 || !strings.Contains(out, "primary") {
		t.Fatalf("status: %d %q %q", code, out, stderr)
	}
	if code, out, _ := cli(t, "keys", "rotate", "--data", dir); code != 0 || !strings.Contains(out, "version 3") {
		t.Fatalf("rotate: %d %q", code, out)
	}
	if code, _, stderr := cli(t, "keys", "retire", "3", "--data", dir); code != 1 {
		t.Fatalf("retire primary: %d", code)
	} else {
		oneLine(t, stderr, "primary")
	}
	if code, out, _ := cli(t, "keys", "rewrap", "--data", dir); code != 0 || !strings.Contains(out, "under key version 3") {
		t.Fatalf("rewrap: %d %q", code, out)
	}
	if code, out, stderr := cli(t, "keys", "retire", "1", "--data", dir); code != 0 {
		t.Fatalf("retire 1: %d %q %q", code, out, stderr)
	}
	code, out, _ = cli(t, "keys", "status", "--data", dir)
	if code != 0 || !strings.Contains(out, "retired") {
		t.Fatalf("status after retire: %q", out)
	}
	// Each key operation is a configuration change in the audit log.
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.QueryRow(`SELECT count(*) FROM audit_events WHERE event_type IN ('config.keys.rotate', 'config.keys.rewrap', 'config.keys.retire')`).Scan(&n)
	if n != 3 {
		t.Fatalf("%d key operations audited, want 3", n)
	}
}

func TestUsersCommands(t *testing.T) {
	dir := newInstall(t)
	code, out, stderr := cli(t, "users", "create", "--role", "admin", "--email", "Boss@Example.org", "--name", "Bo Boss", "--data", dir)
	if code != 0 || !strings.Contains(out, "one-time password") {
		t.Fatalf("create: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := cli(t, "users", "create", "--role", "admin", "--email", "boss@example.org", "--data", dir); code != 1 {
		t.Fatalf("duplicate email: %d", code)
	} else {
		oneLine(t, stderr, "already exists")
	}
	if code, _, stderr := cli(t, "users", "create", "--role", "patient", "--email", "p@example.org", "--data", dir); code != 1 {
		t.Fatalf("patient via CLI: %d", code)
	} else {
		oneLine(t, stderr, "activation code")
	}
	for _, action := range []string{"disable", "enable", "unlock", "end-sessions"} {
		if code, out, stderr := cli(t, "users", action, "boss@example.org", "--data", dir); code != 0 || !strings.Contains(out, "boss@example.org") {
			t.Fatalf("%s: %d %q %q", action, code, out, stderr)
		}
	}
	if code, _, stderr := cli(t, "users", "disable", "nobody@example.org", "--data", dir); code != 1 {
		t.Fatalf("unknown: %d", code)
	} else {
		oneLine(t, stderr, "no account")
	}
	if code, _, _ := cli(t, "users", "create", "--email", "x@example.org", "--data", dir); code != 2 {
		t.Fatalf("missing --role: %d", code)
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	dir := newInstall(t)
	cli(t, "users", "create", "--role", "admin", "--email", "boss@example.org", "--data", dir)
	cli(t, "users", "unlock", "boss@example.org", "--data", dir)
	if code, out, stderr := cli(t, "audit", "verify", "--data", dir); code != 0 || !strings.Contains(out, "intact: 2 events") {
		t.Fatalf("verify: %d %q %q", code, out, stderr)
	}
	out := filepath.Join(t.TempDir(), "archive.jsonl")
	if code, _, stderr := cli(t, "audit", "archive", "--before", "2026-01-01", "--out", out, "--data", dir); code != 1 {
		t.Fatalf("archive inside retention: %d", code)
	} else {
		oneLine(t, stderr, "kept for 6 years")
	}
	if code, stdout, _ := cli(t, "audit", "archive", "--before", "2001-01-01", "--out", out, "--purge", "--data", dir); code != 0 || !strings.Contains(stdout, "no events old enough") {
		t.Fatalf("archive of nothing: %d %q", code, stdout)
	}
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	db.ExecContext(context.Background(), `UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 2`)
	db.Close()
	code, _, stderr := cli(t, "audit", "verify", "--data", dir)
	if code != 1 {
		t.Fatalf("verify of a tampered log: exit %d", code)
	}
	oneLine(t, stderr, "event 2")
	// Without its audit key the installation refuses to start.
	os.Remove(filepath.Join(dir, "audit-key"))
	if code, _, stderr := cli(t, "migrate", "--data", dir); code != 1 {
		t.Fatalf("missing audit key: %d", code)
	} else {
		oneLine(t, stderr, "audit")
	}
}
