// Package app is the composition root: it turns a Config into an open
// database, keyring and services, and runs the subcommands on them.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/clinical"
	"uroportal/internal/clock"
	"uroportal/internal/config"
	"uroportal/internal/identity"
	"uroportal/internal/identity/passkey"
	"uroportal/internal/keyring"
	"uroportal/internal/logs"
	"uroportal/internal/mail"
	"uroportal/internal/session"
	"uroportal/internal/store"
)

// App is an opened installation: database, keys and services.
type App struct {
	Cfg      config.Config
	Log      *slog.Logger
	Clock    clock.Clock
	DB       *store.DB
	Keys     *keyring.Keyring
	Policy   *access.Policy
	Audit    *audit.Log
	Clinical *clinical.Service
	Users    *identity.Store
	Sessions *session.Store
	Auth     *identity.Auth
	Outbox   *mail.Outbox
}

// Options adjust Open for tests and the benchmark harness.
type Options struct {
	Clock clock.Clock
	// Results replaces the encrypted lab-result source (benchmarks only).
	Results clinical.ResultSource
	// Argon2 overrides the password-hashing cost (tests use a cheap one;
	// production always runs the default).
	Argon2 *identity.Argon2Params
	// MailTLS overrides how the SMTP server's certificate is verified
	// (tests trust their in-process server; production uses system roots).
	MailTLS *tls.Config
}

// EncryptedTables lists every encrypted column of every package, for key
// rewrap, retire and status.
func EncryptedTables() []keyring.Table {
	var ts []keyring.Table
	for _, t := range [][]keyring.Table{clinical.EncryptedTables, identity.EncryptedTables, session.EncryptedTables, mail.EncryptedTables, passkey.EncryptedTables} {
		ts = append(ts, t...)
	}
	return ts
}

// Open prepares the data directory, database and keys. It checks everything
// it can before writing anything: a bad KEK or key file fails before the
// data directory or database is touched.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, opt Options) (*App, error) {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	src := keyring.KEKSource{Value: cfg.KEK, File: cfg.KEKFile, DataDir: cfg.DataDir}
	// A key given by the operator, or a key file already in place, is read
	// (and any fault in it reported) before anything is created.
	var kek *keyring.LocalKEK
	if _, err := os.Stat(src.Path()); cfg.KEK != "" || cfg.KEKFile != "" || err == nil {
		var err error
		if kek, err = src.Load(false); err != nil {
			return nil, err
		}
	}
	if err := EnsureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a, err := open(ctx, cfg, log, opt, db, src, kek)
	if err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

func open(ctx context.Context, cfg config.Config, log *slog.Logger, opt Options, db *store.DB, src keyring.KEKSource, kek *keyring.LocalKEK) (*App, error) {
	if err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	if kek == nil {
		n, err := keyring.CountKeys(ctx, db)
		if err != nil {
			return nil, err
		}
		// Only a database with no keys yet gets a new key file; one that
		// has keys but lost its KEK must not be given a useless new one.
		if kek, err = src.Load(n == 0); err != nil {
			return nil, err
		}
	}
	keys, err := keyring.Open(ctx, db, kek, opt.Clock)
	if err != nil {
		return nil, err
	}
	argon := identity.Argon2Params{MemoryKiB: uint32(cfg.Argon2MemoryMiB) * 1024, Passes: uint32(cfg.Argon2Passes), Threads: identity.DefaultArgon2.Threads}
	if opt.Argon2 != nil {
		argon = *opt.Argon2
	}
	signer, err := openAuditKey(ctx, cfg, db, kek)
	if err != nil {
		return nil, err
	}
	policy := access.New(db, opt.Clock)
	rec := &audit.Log{DB: db, Clock: opt.Clock, Signer: signer, Node: hostname()}
	if _, err := rec.Seal(ctx); err != nil {
		return nil, fmt.Errorf("audit: seal older events: %w", err)
	}
	a := &App{
		Cfg: cfg, Log: log, Clock: opt.Clock, DB: db, Keys: keys, Policy: policy, Audit: rec,
		Clinical: clinical.NewService(db, keys, policy, rec, opt.Clock, opt.Results),
		Users:    &identity.Store{DB: db, Keys: keys, Clock: opt.Clock, Argon2: argon},
		Sessions: session.NewStore(db, keys, opt.Clock, session.Config{IdleStaff: cfg.IdleStaff, IdlePatient: cfg.IdlePatient}),
		Outbox: &mail.Outbox{DB: db, Keys: keys, Clock: opt.Clock, Log: log, Node: hostname(),
			Config: mail.Config{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUser, Password: cfg.SMTPPassword, From: cfg.SMTPFrom, TLS: opt.MailTLS}},
	}
	auth, err := identity.NewAuth(a.Users, a.Sessions, rec, &identity.Throttle{DB: db, Clock: opt.Clock, Key: keys.DeriveKey("throttle")},
		&notifier{outbox: a.Outbox, practice: cfg.PracticeName, portal: cfg.Public()}, keys.DeriveKey("recovery"),
		identity.AuthConfig{StaffNetworks: cfg.StaffNetworks, RequirePatientMFA: cfg.RequirePatientMFA})
	if err != nil {
		return nil, err
	}
	auth.MatchPatient = a.Clinical.MatchIdentity
	a.Sessions.OnExpire = func(ctx context.Context, sess session.Session, reason string) error {
		return rec.Record(ctx, nil, audit.Event{Type: "auth.session.end", Outcome: audit.Success, Actor: access.Actor{UserID: sess.UserID},
			Category: "security", Action: "sign-in", Reason: reason})
	}
	a.Auth = auth
	if u, err := url.Parse(cfg.Public()); err == nil {
		pk, err := passkey.New(passkey.Config{RPID: u.Hostname(), RPDisplayName: cfg.PracticeName, RPOrigins: []string{cfg.Public()}}, db, keys, opt.Clock)
		if err != nil {
			log.Warn("passkeys are off: the portal's address cannot be a WebAuthn relying party (use a domain name in --public-url)", slog.String(logs.KeyError, err.Error()))
		} else {
			auth.Passkeys = pk
		}
	}
	return a, nil
}

// openAuditKey loads the audit log's signing key. A log that has sealed
// events must find the key that sealed them; a new one gets a new key.
func openAuditKey(ctx context.Context, cfg config.Config, db *store.DB, kek *keyring.LocalKEK) (*audit.Signer, error) {
	path := cfg.AuditKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, audit.KeyFileName)
	}
	var sealed int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM audit_events WHERE seq IS NOT NULL) + (SELECT count(*) FROM audit_checkpoints)`).Scan(&sealed); err != nil {
		return nil, err
	}
	return audit.LoadSigner(ctx, path, kek, sealed == 0 && cfg.AuditKeyFile == "")
}

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }

// EnsureDataDir creates dir with mode 0700, or tightens an existing one to
// 0700.
func EnsureDataDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cannot create the data directory %s: %w (choose one this user can write with --data)", dir, unwrapPath(err))
		}
		return nil
	case err != nil:
		return fmt.Errorf("cannot use the data directory %s: %w", dir, unwrapPath(err))
	case !fi.IsDir():
		return fmt.Errorf("the data directory %s is a file, not a directory; choose another with --data", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("cannot restrict the data directory %s to its owner: %w", dir, unwrapPath(err))
		}
	}
	// Writable? Try, and leave nothing behind.
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("the data directory %s is not writable: %w (fix its ownership, or choose another with --data)", dir, unwrapPath(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// unwrapPath drops the path an *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "node"
	}
	return h
}

// notifier turns sign-in's notices into queued emails. None carries PHI:
// the mail package's templates take no free text.
type notifier struct {
	outbox   *mail.Outbox
	practice string
	portal   string
}

func (n *notifier) NewSignIn(ctx context.Context, q store.Querier, to string, when time.Time, device string) error {
	_, err := n.outbox.Enqueue(ctx, q, to, mail.NewSignIn{PracticeName: n.practice, When: when, DeviceHint: device, PortalURL: n.portal})
	return err
}

func (n *notifier) PasswordReset(ctx context.Context, q store.Querier, to, link string, valid time.Duration) error {
	_, err := n.outbox.Enqueue(ctx, q, to, mail.PasswordReset{PracticeName: n.practice, Link: link, ExpiresIn: valid})
	return err
}

// discard is a logger for commands that do not log.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
