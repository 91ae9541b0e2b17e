// Package config holds Uroportal's one Config value. It is read from
// UROPORTAL_* environment variables and then command-line flags (flags win),
// validated before anything opens, and passed down. Defaults are the secure
// choice.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting.
type Config struct {
	DataDir     string
	Addr        string // HTTPS listener
	AdminAddr   string // /healthz, /readyz, /metrics
	HTTPAddr    string // optional plain-HTTP listener that only redirects
	DatabaseURL string // empty: SQLite in DataDir
	TLSCert     string
	TLSKey      string

	// KEK and KEKFile come only from the environment (UROPORTAL_KEK,
	// UROPORTAL_KEK_FILE), never from flags, so they stay out of process
	// listings and shell history.
	KEK     string
	KEKFile string
	// AuditKeyFile holds the audit log's signing key, wrapped by the KEK;
	// default DATA/audit-key. Nodes sharing a database share it.
	AuditKeyFile string

	Demo         bool
	DemoPatients int
	DemoSeed     uint64

	// PublicURL is the portal's address as patients reach it, used in
	// emailed links; default https://ADDR.
	PublicURL string
	// StaffNetworks, if set, are the only networks (CIDRs) staff may sign
	// in from.
	StaffNetworks []netip.Prefix
	// RequirePatientMFA makes patients enroll a second factor too.
	RequirePatientMFA bool
	IdleStaff         time.Duration
	IdlePatient       time.Duration
	// Argon2MemoryMiB and Argon2Passes set the password-hashing cost. Hashes
	// keep their own parameters; raising these upgrades each password at
	// its next sign-in.
	Argon2MemoryMiB int
	Argon2Passes    int

	// AuditJSONL, if set, streams the audit log as JSON lines to this file
	// ("-" for standard output); AuditSyslog to this host:port as RFC 5424
	// over TLS (AuditSyslogCA: a PEM file of the collector's CA, else the
	// system roots).
	AuditJSONL    string
	AuditSyslog   string
	AuditSyslogCA string

	// AlertWebhook receives each new security alert as JSON signed with
	// HMAC-SHA256 under AlertWebhookSecret; WorkHours ("7-19") and
	// TimeZone set the after-hours rule.
	AlertWebhook       string
	AlertWebhookSecret string
	WorkHours          string
	TimeZone           string

	// Outgoing email (no PHI ever). Without SMTPHost mail stays queued.
	SMTPHost     string
	SMTPPort     int
	SMTPUser     string
	SMTPPassword string // UROPORTAL_SMTP_PASSWORD or _FILE only
	SMTPFrom     string

	PracticeName    string
	LogLevel        string
	BodyLimit       int64
	ShutdownTimeout time.Duration
}

// Default returns the secure defaults.
func Default() Config {
	return Config{
		DataDir:         "./uroportal-data",
		Addr:            "127.0.0.1:8443",
		AdminAddr:       "127.0.0.1:9090",
		DemoPatients:    50,
		DemoSeed:        1,
		PracticeName:    "Uroportal Demo Urology",
		LogLevel:        "info",
		BodyLimit:       1 << 20,
		ShutdownTimeout: 20 * time.Second,
		IdleStaff:       15 * time.Minute,
		Argon2MemoryMiB: 64,
		Argon2Passes:    3,
		IdlePatient:     30 * time.Minute,
		SMTPPort:        587,
	}
}

// Set names groups of flags a subcommand takes.
type Set uint

// Flag groups.
const (
	FlagData  Set = 1 << iota // --data, --database
	FlagServe                 // --addr, --admin-addr, --http-addr, --tls-cert, --tls-key, --demo, --practice-name, --log-level
	FlagDemo                  // --patients, --seed
)

// FromEnv overlays UROPORTAL_* variables on c. getenv is os.Getenv in
// production.
func (c *Config) FromEnv(getenv func(string) string) error {
	str := func(name string, dst *string) {
		if v := getenv("UROPORTAL_" + name); v != "" {
			*dst = v
		}
	}
	str("DATA", &c.DataDir)
	str("ADDR", &c.Addr)
	str("ADMIN_ADDR", &c.AdminAddr)
	str("HTTP_ADDR", &c.HTTPAddr)
	str("DATABASE", &c.DatabaseURL)
	str("TLS_CERT", &c.TLSCert)
	str("TLS_KEY", &c.TLSKey)
	str("KEK", &c.KEK)
	str("KEK_FILE", &c.KEKFile)
	str("AUDIT_KEY_FILE", &c.AuditKeyFile)
	str("AUDIT_JSONL", &c.AuditJSONL)
	str("AUDIT_SYSLOG", &c.AuditSyslog)
	str("AUDIT_SYSLOG_CA", &c.AuditSyslogCA)
	str("ALERT_WEBHOOK", &c.AlertWebhook)
	str("ALERT_WEBHOOK_SECRET", &c.AlertWebhookSecret)
	str("WORK_HOURS", &c.WorkHours)
	str("TIMEZONE", &c.TimeZone)
	str("PRACTICE_NAME", &c.PracticeName)
	str("LOG_LEVEL", &c.LogLevel)
	if f := getenv("UROPORTAL_DATABASE_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("UROPORTAL_DATABASE_FILE: %w", err)
		}
		c.DatabaseURL = strings.TrimSpace(string(b))
	}
	str("PUBLIC_URL", &c.PublicURL)
	str("SMTP_HOST", &c.SMTPHost)
	str("SMTP_USER", &c.SMTPUser)
	str("SMTP_PASSWORD", &c.SMTPPassword)
	str("SMTP_FROM", &c.SMTPFrom)
	if f := getenv("UROPORTAL_SMTP_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("UROPORTAL_SMTP_PASSWORD_FILE: %w", err)
		}
		c.SMTPPassword = strings.TrimSpace(string(b))
	}
	if v := getenv("UROPORTAL_SMTP_PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("UROPORTAL_SMTP_PORT must be a port number, got %q", v)
		}
		c.SMTPPort = n
	}
	if v := getenv("UROPORTAL_STAFF_NETWORKS"); v != "" {
		if err := c.setNetworks(v); err != nil {
			return err
		}
	}
	if v := getenv("UROPORTAL_REQUIRE_PATIENT_MFA"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("UROPORTAL_REQUIRE_PATIENT_MFA must be true or false, got %q", v)
		}
		c.RequirePatientMFA = b
	}
	for name, dst := range map[string]*time.Duration{"UROPORTAL_IDLE_STAFF": &c.IdleStaff, "UROPORTAL_IDLE_PATIENT": &c.IdlePatient} {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s must be a duration like 15m, got %q", name, v)
			}
			*dst = d
		}
	}
	for name, dst := range map[string]*int{"UROPORTAL_ARGON2_MEMORY_MIB": &c.Argon2MemoryMiB, "UROPORTAL_ARGON2_PASSES": &c.Argon2Passes} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s must be a whole number, got %q", name, v)
			}
			*dst = n
		}
	}
	if v := getenv("UROPORTAL_BODY_LIMIT"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("UROPORTAL_BODY_LIMIT must be a number of bytes, got %q", v)
		}
		c.BodyLimit = n
	}
	return nil
}

// Bind registers the flags of set on fs, writing into c. Call after FromEnv
// so flags override the environment.
func (c *Config) Bind(fs *flag.FlagSet, set Set) {
	if set&FlagData != 0 {
		fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (database, keys, certificate)")
		fs.StringVar(&c.DatabaseURL, "database", c.DatabaseURL, "PostgreSQL URL (postgres://…); empty for the built-in SQLite database")
	}
	if set&FlagServe != 0 {
		fs.StringVar(&c.Addr, "addr", c.Addr, "HTTPS address to listen on")
		fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "admin address for /healthz, /readyz and /metrics")
		fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "optional plain-HTTP address that only redirects to HTTPS")
		fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate chain (PEM); default: a self-signed certificate in the data directory")
		fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key (PEM)")
		fs.BoolVar(&c.Demo, "demo", c.Demo, "fill an empty database with synthetic demo patients and logins (loopback only)")
		fs.StringVar(&c.PracticeName, "practice-name", c.PracticeName, "the practice's name, shown on pages")
		fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
		fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "the portal's https:// address as patients reach it (for emailed links); default https://ADDR")
		fs.Func("staff-networks", "comma-separated CIDRs staff may sign in from (default: anywhere)", c.setNetworks)
		fs.BoolVar(&c.RequirePatientMFA, "require-patient-mfa", c.RequirePatientMFA, "make patients set up a second factor too")
		fs.DurationVar(&c.IdleStaff, "idle-staff", c.IdleStaff, "staff idle timeout")
		fs.DurationVar(&c.IdlePatient, "idle-patient", c.IdlePatient, "patient idle timeout")
		fs.StringVar(&c.SMTPHost, "smtp-host", c.SMTPHost, "SMTP server for outgoing email (STARTTLS required); empty keeps mail queued")
		fs.IntVar(&c.SMTPPort, "smtp-port", c.SMTPPort, "SMTP port (587 STARTTLS, 465 implicit TLS)")
		fs.StringVar(&c.SMTPUser, "smtp-user", c.SMTPUser, "SMTP user name (the password comes from UROPORTAL_SMTP_PASSWORD or _FILE)")
		fs.StringVar(&c.SMTPFrom, "smtp-from", c.SMTPFrom, "sender address, e.g. \"Example Urology <portal@example.org>\"")
	}
	if set&FlagDemo != 0 || set&FlagServe != 0 {
		fs.IntVar(&c.DemoPatients, "patients", c.DemoPatients, "number of demo patients")
		fs.Uint64Var(&c.DemoSeed, "seed", c.DemoSeed, "seed for the demo data (same seed, same patients)")
	}
}

// Validate checks c for a subcommand with flag set set; the error says what
// to change.
func (c *Config) Validate(set Set) error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data must name a directory"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("--database must be a postgres:// URL, or empty for the built-in SQLite database"))
	}
	if c.KEK != "" && c.KEKFile != "" {
		errs = append(errs, errors.New("set only one of UROPORTAL_KEK and UROPORTAL_KEK_FILE"))
	}
	if set&FlagServe != 0 {
		for name, addr := range map[string]string{"--addr": c.Addr, "--admin-addr": c.AdminAddr, "--http-addr": c.HTTPAddr} {
			if addr == "" && name == "--http-addr" {
				continue
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				errs = append(errs, fmt.Errorf("%s %q is not HOST:PORT (for example 127.0.0.1:8443)", name, addr))
			}
		}
		if (c.TLSCert == "") != (c.TLSKey == "") {
			errs = append(errs, errors.New("--tls-cert and --tls-key go together: give both, or neither for a self-signed certificate"))
		}
		if c.Demo {
			for name, addr := range map[string]string{"--addr": c.Addr, "--admin-addr": c.AdminAddr, "--http-addr": c.HTTPAddr} {
				if addr != "" && !IsLoopback(addr) {
					errs = append(errs, fmt.Errorf("demo mode listens only on loopback; %s %s is not (use 127.0.0.1)", name, addr))
				}
			}
		}
		switch c.LogLevel {
		case "debug", "info", "warn", "error":
		default:
			errs = append(errs, fmt.Errorf("--log-level %q: use debug, info, warn or error", c.LogLevel))
		}
		if c.PublicURL != "" {
			if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" {
				errs = append(errs, fmt.Errorf("--public-url %q must be an https:// address with no path, e.g. https://portal.example.org", c.PublicURL))
			}
		}
		if c.IdleStaff < time.Minute || c.IdleStaff > 12*time.Hour || c.IdlePatient < time.Minute || c.IdlePatient > 12*time.Hour {
			errs = append(errs, errors.New("idle timeouts must be between 1m and 12h"))
		}
		if c.AlertWebhook != "" && (!strings.HasPrefix(c.AlertWebhook, "https://") || len(c.AlertWebhookSecret) < 16) {
			errs = append(errs, errors.New("UROPORTAL_ALERT_WEBHOOK must be an https:// URL, with UROPORTAL_ALERT_WEBHOOK_SECRET of at least 16 characters"))
		}
		if _, _, err := c.Hours(); err != nil {
			errs = append(errs, err)
		}
		if c.TimeZone != "" {
			if _, err := time.LoadLocation(c.TimeZone); err != nil {
				errs = append(errs, fmt.Errorf("UROPORTAL_TIMEZONE %q is not a time zone name like America/Chicago", c.TimeZone))
			}
		}
		if c.AuditSyslog != "" {
			if _, _, err := net.SplitHostPort(c.AuditSyslog); err != nil {
				errs = append(errs, fmt.Errorf("UROPORTAL_AUDIT_SYSLOG %q is not HOST:PORT", c.AuditSyslog))
			}
		}
		if c.SMTPHost != "" && c.SMTPFrom == "" {
			errs = append(errs, errors.New("--smtp-from is needed with --smtp-host"))
		}
		if c.BodyLimit < 1024 {
			errs = append(errs, errors.New("UROPORTAL_BODY_LIMIT must be at least 1024 bytes"))
		}
	}
	// OWASP's floor for argon2id is 19 MiB with 2 passes; the default is
	// 64 MiB with 3. More than 1 GiB would let a few sign-ins exhaust memory.
	if c.Argon2MemoryMiB < 19 || c.Argon2MemoryMiB > 1024 || c.Argon2Passes < 2 || c.Argon2Passes > 16 {
		errs = append(errs, errors.New("UROPORTAL_ARGON2_MEMORY_MIB must be 19 to 1024 and UROPORTAL_ARGON2_PASSES 2 to 16 (the default is 64 MiB, 3 passes)"))
	}
	if (set&FlagDemo != 0 || c.Demo) && (c.DemoPatients < 2 || c.DemoPatients > 1_000_000) {
		errs = append(errs, fmt.Errorf("--patients %d: use a number from 2 to 1000000", c.DemoPatients))
	}
	return errors.Join(errs...)
}

// IsLoopback reports whether a HOST:PORT address is on the loopback
// interface. "localhost" counts; an empty host (all interfaces) does not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// setNetworks parses a comma-separated CIDR list.
func (c *Config) setNetworks(v string) error {
	c.StaffNetworks = nil
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return fmt.Errorf("staff network %q is not a CIDR like 10.20.0.0/16", part)
		}
		c.StaffNetworks = append(c.StaffNetworks, p.Masked())
	}
	return nil
}

// Public returns the portal's public https address. On loopback it is
// https://localhost:PORT: browsers allow passkeys for localhost but never
// for a bare IP address.
func (c Config) Public() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	if _, port, err := net.SplitHostPort(c.Addr); err == nil && IsLoopback(c.Addr) {
		return "https://localhost:" + port
	}
	return "https://" + c.Addr
}

// Hours returns the working hours [start, end) for the after-hours alert.
func (c Config) Hours() (int, int, error) {
	if c.WorkHours == "" {
		return 7, 19, nil
	}
	var a, b int
	if _, err := fmt.Sscanf(c.WorkHours, "%d-%d", &a, &b); err != nil || a < 0 || b > 24 || a >= b {
		return 0, 0, fmt.Errorf("UROPORTAL_WORK_HOURS %q must be like 7-19 (from hour, to hour)", c.WorkHours)
	}
	return a, b, nil
}
