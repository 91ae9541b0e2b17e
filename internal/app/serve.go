package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/config"
	"uroportal/internal/demo"
	"uroportal/internal/logs"
	"uroportal/internal/mail"
	"uroportal/internal/web"
)

// ServeOptions adjust Serve for tests and the benchmark harness.
type ServeOptions struct {
	Options
	// Authenticate names the actor of a request. Until the sign-in flows
	// arrive, nil refuses every request for patient data.
	Authenticate func(*http.Request) (access.Actor, error)
	// Ready hears the bound addresses once the server accepts connections.
	Ready func(web.Bound)
	// Stderr receives the "listening on" line and start-up notes.
	Stderr io.Writer
}

// Serve runs the portal until ctx is cancelled.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger, so ServeOptions) error {
	if so.Stderr == nil {
		so.Stderr = os.Stderr
	}
	// Fail on a taken port before anything is written.
	if err := checkAddrs(cfg); err != nil {
		return err
	}
	a, err := Open(ctx, cfg, log, so.Options)
	if err != nil {
		return err
	}
	defer a.Close()
	certs, err := web.OpenCertificates(cfg.DataDir, cfg.TLSCert, cfg.TLSKey, a.Clock)
	if err != nil {
		return err
	}
	if cfg.Demo {
		if err := a.ensureDemo(ctx, so.Stderr); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewDBStatsCollector(a.DB.DB, "uroportal"))
	for name, v := range map[string]func() uint64{
		"uroportal_field_encryptions_total":         a.Keys.Encrypts.Load,
		"uroportal_field_decryptions_total":         a.Keys.Decrypts.Load,
		"uroportal_field_decryption_failures_total": a.Keys.Failures.Load,
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "PHI field " + name[len("uroportal_field_"):len(name)-len("_total")] + " by the keyring."},
			func() float64 { return float64(v()) }))
	}
	opts := web.Options{
		Logger: log, Clock: a.Clock, Registry: reg, PracticeName: cfg.PracticeName, BodyLimit: cfg.BodyLimit,
		CSRFKey:  a.Keys.DeriveKey("csrf"),
		Clinical: a.Clinical,
		Auth:     a.Auth, Policy: a.Policy, PublicURL: cfg.Public(), Audit: a.Audit,
	}
	if so.Authenticate != nil {
		// The benchmark harness's stand-in replaces sign-in entirely.
		opts.Auth, opts.Authenticate = nil, so.Authenticate
	}
	srv, err := web.New(opts)
	if err != nil {
		return err
	}
	admin, err := web.NewAdmin(web.AdminOptions{Logger: log, Registry: reg, Checks: []web.Check{
		{Name: "database", Fn: func(ctx context.Context) error { return a.DB.PingContext(ctx) }},
		{Name: "migrations", Fn: a.DB.CheckCurrent},
		{Name: "keys", Fn: a.Keys.Ready},
	}, Handlers: a.witnessHandlers()})
	if err != nil {
		return err
	}

	if cfg.SMTPHost != "" {
		go a.Outbox.Run(ctx)
	} else {
		log.Warn("no SMTP server configured (--smtp-host): emails such as password-reset links stay queued and are not sent")
	}
	go a.janitor(ctx)
	sinks, err := a.auditSinks()
	if err != nil {
		return err
	}
	for _, sink := range sinks {
		sh := &audit.Shipper{Log: a.Audit, Sink: sink, Node: hostname()}
		go sh.Run(ctx, 5*time.Second, func(err error) {
			log.Error("audit shipping failed; it will resume from where it stopped", slog.String(logs.KeyError, err.Error()))
		})
	}
	alerter, err := a.Alerter()
	if err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := a.ScanAlerts(ctx, alerter); err != nil && ctx.Err() == nil {
					log.Error("audit alert scan failed", slog.String(logs.KeyError, err.Error()))
				}
			}
		}
	}()
	go a.Audit.RunCheckpoints(ctx, 10*time.Second, func(err error) {
		log.Error("audit checkpoint failed", slog.String(logs.KeyError, err.Error()))
	})
	// A last checkpoint covers what was audited up to shutdown.
	defer func() {
		if _, err := a.Audit.Checkpoint(context.WithoutCancel(ctx)); err != nil {
			log.Error("audit checkpoint at shutdown failed", slog.String(logs.KeyError, err.Error()))
		}
	}()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := certs.Reload(); err != nil {
				log.Error("certificate reload failed; still serving the previous certificate", slog.String(logs.KeyError, err.Error()))
			} else {
				log.Info("certificate reloaded")
			}
		}
	}()

	return web.Run(ctx, web.Listeners{
		Addr: cfg.Addr, RedirectAddr: cfg.HTTPAddr, AdminAddr: cfg.AdminAddr,
		TLS: certs.TLSConfig(), Logger: log, Announce: so.Stderr, Ready: so.Ready,
		ShutdownTimeout: cfg.ShutdownTimeout, MaxHeaderBytes: web.DefaultMaxHeaderBytes,
	}, srv.Handler(), admin)
}

// ensureDemo loads demo data into an empty database and says where the
// logins are.
func (a *App) ensureDemo(ctx context.Context, stderr io.Writer) error {
	path := filepath.Join(a.Cfg.DataDir, demo.LoginsFile)
	has, err := demo.HasData(ctx, a.DB)
	if err != nil {
		return err
	}
	if !has {
		fmt.Fprintf(stderr, "uroportal: creating %d synthetic demo patients (seed %d)…\n", a.Cfg.DemoPatients, a.Cfg.DemoSeed)
		if _, err := a.LoadDemo(ctx, stderr); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "uroportal: sign in at %s/signin with a demo login from %s (email, password and TOTP secret for each role; add the secret to an authenticator app, or compute a code with any TOTP tool)\n", a.Cfg.Public(), path)
	return nil
}

// checkAddrs opens and closes each listening address, so a taken port is
// reported before the data directory or database is touched.
func checkAddrs(cfg config.Config) error {
	for _, x := range []struct{ name, addr string }{{"portal", cfg.Addr}, {"redirect", cfg.HTTPAddr}, {"admin", cfg.AdminAddr}} {
		if x.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", x.addr)
		if err != nil {
			return &web.ListenError{Listener: x.name, Addr: x.addr, Err: err}
		}
		ln.Close()
	}
	return nil
}

// janitor clears expired sign-in state now and then.
func (a *App) janitor(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Auth.Throttle.Sweep(ctx); err != nil {
				a.Log.Warn("throttle sweep failed", slog.String(logs.KeyError, err.Error()))
			}
		}
	}
}

// auditSinks are the configured outgoing audit streams.
func (a *App) auditSinks() ([]audit.Sink, error) {
	var sinks []audit.Sink
	if a.Cfg.AuditJSONL != "" {
		sinks = append(sinks, &audit.JSONLines{Path: a.Cfg.AuditJSONL})
	}
	if a.Cfg.AuditSyslog != "" {
		host, _, _ := net.SplitHostPort(a.Cfg.AuditSyslog)
		tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if a.Cfg.AuditSyslogCA != "" {
			pem, err := os.ReadFile(a.Cfg.AuditSyslogCA)
			if err != nil {
				return nil, fmt.Errorf("UROPORTAL_AUDIT_SYSLOG_CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("UROPORTAL_AUDIT_SYSLOG_CA %s holds no PEM certificate", a.Cfg.AuditSyslogCA)
			}
			tc.RootCAs = pool
		}
		sinks = append(sinks, &audit.Syslog{Addr: a.Cfg.AuditSyslog, TLS: tc, Hostname: hostname()})
	}
	return sinks, nil
}

// Alerter builds the security alert rules from the configuration.
func (a *App) Alerter() (*audit.Alerter, error) {
	start, end, err := a.Cfg.Hours()
	if err != nil {
		return nil, err
	}
	loc := time.UTC
	if a.Cfg.TimeZone != "" {
		if loc, err = time.LoadLocation(a.Cfg.TimeZone); err != nil {
			return nil, err
		}
	}
	return &audit.Alerter{Log: a.Audit, Node: hostname(), Webhook: a.Cfg.AlertWebhook, WebhookSecret: []byte(a.Cfg.AlertWebhookSecret),
		Config: audit.AlertConfig{WorkStart: start, WorkEnd: end, Location: loc},
		SameFamilyName: func(ctx context.Context, actorID, patientID string) (bool, error) {
			names, err := a.Users.Names(ctx, []string{actorID})
			if err != nil || names[actorID] == "" {
				return false, err
			}
			fam, err := a.Clinical.FamilyName(ctx, patientID)
			if err != nil {
				return false, err
			}
			parts := strings.Fields(strings.ToLower(names[actorID]))
			f := strings.ToLower(strings.TrimSpace(fam))
			for _, p := range parts {
				if p == f && f != "" {
					return true, nil
				}
			}
			return false, nil
		}}, nil
}

// ScanAlerts runs the alert rules once and, when any fired, emails the
// security officers.
func (a *App) ScanAlerts(ctx context.Context, al *audit.Alerter) ([]audit.Alert, error) {
	raised, err := al.Scan(ctx)
	if len(raised) > 0 {
		if merr := a.mailSecurityOfficers(ctx); merr != nil && err == nil {
			err = merr
		}
	}
	return raised, err
}

// mailSecurityOfficers emails every active security officer that alerts
// are waiting (no detail: that stays in the portal).
func (a *App) mailSecurityOfficers(ctx context.Context) error {
	rows, err := a.DB.QueryContext(ctx, `SELECT id FROM users WHERE role = 'security' AND disabled_at IS NULL`)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		email, err := a.Users.Email(ctx, id)
		if err != nil {
			return err
		}
		if _, err := a.Outbox.Enqueue(ctx, a.DB, email, mail.SecurityAlert{PracticeName: a.Cfg.PracticeName, PortalURL: a.Cfg.Public() + "/security/alerts"}); err != nil {
			return err
		}
	}
	return nil
}
