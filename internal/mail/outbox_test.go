package mail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"uroportal/internal/clock"
	"uroportal/internal/keyring"
	"uroportal/internal/logs"
	"uroportal/internal/mail"
	"uroportal/internal/mail/mailtest"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

const (
	patientAddr = "pat.testperson@example.net"
	sender      = "Example Urology <portal@example.org>"
	resetToken  = "rst_0123456789abcdefSECRET"
)

var t0 = time.Date(2031, 3, 4, 9, 30, 0, 0, time.UTC)

// syncBuffer collects log lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	db   *store.DB
	clk  *clock.Fake
	srv  *mailtest.Server
	logs *syncBuffer
	box  *mail.Outbox
}

func newKEK(tb testing.TB) keyring.KEK {
	tb.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	k, err := keyring.NewLocalKEK(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func openKeys(tb testing.TB, db *store.DB, kek keyring.KEK, clk clock.Clock) *keyring.Keyring {
	tb.Helper()
	k, err := keyring.Open(context.Background(), db, kek, clk)
	if err != nil {
		tb.Fatalf("keyring.Open: %v", err)
	}
	return k
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	e := &env{db: db, clk: clock.NewFake(t0), srv: mailtest.Start(t), logs: &syncBuffer{}}
	e.box = &mail.Outbox{
		DB: db, Keys: openKeys(t, db, newKEK(t), e.clk), Clock: e.clk,
		Log:    logs.New(e.logs, slog.LevelDebug),
		Config: e.srv.Config(sender), Node: "node-a",
	}
	t.Cleanup(func() { e.checkLogs(t) })
	return e
}

// checkLogs fails the test if anything identifying or any content reached
// the log.
func (e *env) checkLogs(t *testing.T) {
	t.Helper()
	out := e.logs.String()
	for _, s := range []string{patientAddr, "testperson", "example.net", resetToken, "Reset your", "sign in"} {
		if strings.Contains(strings.ToLower(out), strings.ToLower(s)) {
			t.Errorf("log contains %q:\n%s", s, out)
		}
	}
}

func (e *env) enqueue(t *testing.T, to string, m mail.Renderable) string {
	t.Helper()
	id, err := e.box.Enqueue(context.Background(), e.db, to, m)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return id
}

func (e *env) sendDue(t *testing.T, want int) {
	t.Helper()
	n, err := e.box.SendDue(context.Background())
	if err != nil {
		t.Fatalf("SendDue: %v", err)
	}
	if n != want {
		t.Fatalf("SendDue sent %d, want %d", n, want)
	}
}

func (e *env) status(t *testing.T, id string) mail.Status {
	t.Helper()
	s, err := e.box.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reset() mail.PasswordReset {
	return mail.PasswordReset{PracticeName: "Example Urology", Link: "https://portal.example.org/reset?t=" + resetToken, ExpiresIn: time.Hour}
}

func countQueued(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM mail_outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mailCommands lists the credential- and mail-carrying commands that reached
// the server: without TLS there must be none.
func mailCommands(srv *mailtest.Server) []string {
	var out []string
	for _, c := range srv.Commands() {
		if c == "AUTH" || c == "MAIL" || c == "RCPT" || c == "DATA" {
			out = append(out, c)
		}
	}
	return out
}

func TestEnqueueCommitsWithTheCallersTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		boom := errors.New("the change failed")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := e.box.Enqueue(ctx, tx, patientAddr, reset()); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		if n := countQueued(t, db); n != 0 {
			t.Fatalf("%d messages queued after rollback, want 0", n)
		}
		var id string
		err = db.InTx(ctx, func(tx *sql.Tx) (err error) {
			id, err = e.box.Enqueue(ctx, tx, patientAddr, reset())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := countQueued(t, db); n != 1 {
			t.Fatalf("%d messages queued after commit, want 1", n)
		}
		if s := e.status(t, id); s.Kind != mail.KindPasswordReset || s.Attempts != 0 || !s.NextAttemptAt.Equal(t0) {
			t.Fatalf("status = %+v", s)
		}
	})
}

func TestSendDueDeliversOverSTARTTLS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.srv.RequireAuth("portal", "s3cret-pass")
		e.box.Config = e.srv.Config(sender)
		id := e.enqueue(t, "Pat Testperson <"+patientAddr+">", reset())

		// Stored sealed: neither the address nor the one-time link is
		// readable in the table.
		var toCol, bodyCol []byte
		if err := db.QueryRowContext(context.Background(), `SELECT to_addr, body FROM mail_outbox WHERE id = $1`, id).Scan(&toCol, &bodyCol); err != nil {
			t.Fatal(err)
		}
		for _, col := range [][]byte{toCol, bodyCol} {
			if bytes.Contains(col, []byte(patientAddr)) || bytes.Contains(col, []byte("testperson")) || bytes.Contains(col, []byte(resetToken)) {
				t.Fatal("mail_outbox holds the address or the link in plaintext")
			}
		}

		e.sendDue(t, 1)
		msgs, err := e.srv.WaitFor(1, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		m := msgs[0]
		if !m.TLS || m.AuthUser != "portal" {
			t.Fatalf("TLS = %v, AuthUser = %q; want TLS and authenticated", m.TLS, m.AuthUser)
		}
		if m.From != "portal@example.org" || !slices.Equal(m.To, []string{patientAddr}) {
			t.Fatalf("envelope %q → %q", m.From, m.To)
		}
		checks := map[string]string{
			"From":                      `"Example Urology" <portal@example.org>`,
			"To":                        "<" + patientAddr + ">",
			"Subject":                   "Reset your patient portal password",
			"Message-ID":                "<" + id + "@example.org>",
			"Date":                      t0.Format(time.RFC1123Z),
			"MIME-Version":              "1.0",
			"Content-Type":              "text/plain; charset=utf-8",
			"Content-Transfer-Encoding": "quoted-printable",
		}
		for h, want := range checks {
			if got := m.Header(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if strings.Contains(string(m.Data), "Testperson") {
			t.Error("the display name (a patient's name) reached the message")
		}
		if !strings.Contains(m.Text(), "https://portal.example.org/reset?t="+resetToken) {
			t.Errorf("body lacks the link:\n%s", m.Text())
		}
		if !bytes.Contains(m.Data, []byte("\r\n\r\n")) || bytes.Contains(bytes.ReplaceAll(m.Data, []byte("\r\n"), nil), []byte("\n")) {
			t.Error("message lines do not all end in CRLF")
		}

		s := e.status(t, id)
		if !s.SentAt.Equal(t0) || s.Attempts != 1 || s.LastError != "" || !s.FailedAt.IsZero() {
			t.Fatalf("status after send = %+v", s)
		}
		if err := db.QueryRowContext(context.Background(), `SELECT body FROM mail_outbox WHERE id = $1`, id).Scan(&bodyCol); err != nil || bodyCol != nil {
			t.Fatalf("body kept after sending (%v): the one-time link must not stay in the database", err)
		}
		e.clk.Advance(24 * time.Hour)
		e.sendDue(t, 0)
		if n := len(e.srv.Messages()); n != 1 {
			t.Fatalf("server has %d messages after a second pass, want 1", n)
		}
	})
}

func TestNoSTARTTLSMeansNotSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.srv.RequireAuth("portal", "s3cret-pass")
		e.box.Config = e.srv.Config(sender)
		e.srv.SetSTARTTLS(false)
		id := e.enqueue(t, patientAddr, mail.NewMessage{PracticeName: "Example Urology", PortalURL: "https://portal.example.org/"})

		e.sendDue(t, 0)
		if got := mailCommands(e.srv); len(got) > 0 {
			t.Fatalf("client sent %v over a plaintext connection", got)
		}
		s := e.status(t, id)
		if !strings.Contains(s.LastError, "STARTTLS") || strings.Contains(s.LastError, patientAddr) || !s.SentAt.IsZero() || !s.FailedAt.IsZero() {
			t.Fatalf("status = %+v", s)
		}
		if want := t0.Add(time.Minute); !s.NextAttemptAt.Equal(want) {
			t.Fatalf("next attempt %v, want %v", s.NextAttemptAt, want)
		}

		// Not retried before its time, then delivered once TLS is back.
		e.srv.SetSTARTTLS(true)
		e.clk.Advance(59 * time.Second)
		e.sendDue(t, 0)
		e.clk.Advance(time.Second)
		e.sendDue(t, 1)
		if msgs := e.srv.Messages(); len(msgs) != 1 || !msgs[0].TLS {
			t.Fatalf("messages = %+v", msgs)
		}
	})
}

func TestTLSHandshakeFailureMeansNotSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		// A client that trusts nothing: the server's certificate fails.
		e.box.Config.TLS = &tls.Config{RootCAs: x509.NewCertPool()}
		id := e.enqueue(t, patientAddr, reset())
		e.sendDue(t, 0)
		if got := mailCommands(e.srv); len(got) > 0 {
			t.Fatalf("client sent %v after a failed handshake", got)
		}
		s := e.status(t, id)
		if !strings.Contains(s.LastError, "TLS handshake failed") || !strings.Contains(s.LastError, "certificate") {
			t.Fatalf("last_error = %q", s.LastError)
		}
		if len(e.srv.Messages()) != 0 {
			t.Fatal("message delivered despite the failed handshake")
		}
	})
}

func TestTemporaryFailureRetriedWithBackoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.srv.FailNext(3)
		id := e.enqueue(t, patientAddr, mail.ResultReady{PracticeName: "Example Urology", PortalURL: "https://portal.example.org/"})

		// Failures at t0, t0+1m, t0+3m; waits double: 1m, 2m, 4m.
		e.sendDue(t, 0)
		for i, wait := range []time.Duration{time.Minute, 2 * time.Minute} {
			s := e.status(t, id)
			if want := e.clk.Now().Add(wait); !s.NextAttemptAt.Equal(want) || s.Attempts != i+1 {
				t.Fatalf("after failure %d: status %+v, want next attempt %v", i+1, s, want)
			}
			if !strings.Contains(s.LastError, "451") || !strings.Contains(s.LastError, "4.3.0") {
				t.Fatalf("last_error = %q", s.LastError)
			}
			e.clk.Advance(wait - time.Millisecond)
			e.sendDue(t, 0) // not yet due
			e.clk.Advance(time.Millisecond)
			e.sendDue(t, 0) // due, and fails again
		}
		if s := e.status(t, id); s.Attempts != 3 || !s.NextAttemptAt.Equal(e.clk.Now().Add(4*time.Minute)) {
			t.Fatalf("after 3 failures: %+v", s)
		}
		e.clk.Advance(4 * time.Minute)
		e.sendDue(t, 1)
		if s := e.status(t, id); s.Attempts != 4 || s.SentAt.IsZero() || s.LastError != "" {
			t.Fatalf("after delivery: %+v", s)
		}
		if n := len(e.srv.Messages()); n != 1 {
			t.Fatalf("%d messages delivered, want 1", n)
		}
	})
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.box.MaxAttempts = 3
		e.srv.FailNext(1000)
		id := e.enqueue(t, patientAddr, reset())
		for range 3 {
			e.sendDue(t, 0)
			e.clk.Advance(time.Hour)
		}
		s := e.status(t, id)
		if s.FailedAt.IsZero() || s.Attempts != 3 || !strings.Contains(s.LastError, "451") {
			t.Fatalf("status after 3 attempts = %+v", s)
		}
		var body []byte
		if err := db.QueryRowContext(context.Background(), `SELECT body FROM mail_outbox WHERE id = $1`, id).Scan(&body); err != nil || body != nil {
			t.Fatalf("body kept after giving up (%v)", err)
		}
		before := len(e.srv.Commands())
		e.clk.Advance(24 * time.Hour)
		e.sendDue(t, 0)
		if len(e.srv.Commands()) != before {
			t.Fatal("a given-up message was tried again")
		}
		if !strings.Contains(e.logs.String(), "gave up") || !strings.Contains(e.logs.String(), id) {
			t.Fatalf("no give-up log line with the message ID:\n%s", e.logs.String())
		}
	})
}

func TestRejectedRecipientIsPermanentAndNotEchoed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.srv.RejectRecipient(patientAddr)
		id := e.enqueue(t, patientAddr, reset())
		e.sendDue(t, 0)
		s := e.status(t, id)
		if s.FailedAt.IsZero() || s.Attempts != 1 {
			t.Fatalf("a 550 to RCPT should give up at once: %+v", s)
		}
		if !strings.Contains(s.LastError, "RCPT TO") || !strings.Contains(s.LastError, "550 5.1.1") || strings.Contains(s.LastError, "example.net") {
			t.Fatalf("last_error = %q", s.LastError)
		}
	})
}

// TestTwoNodesSendEachMessageOnce runs two Outboxes, each with its own
// connection pool and keyring, against one database at the same time.
func TestTwoNodesSendEachMessageOnce(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db1, db2 := openTwice(t, d)
			clk, srv, logBuf := clock.NewFake(t0), mailtest.Start(t), &syncBuffer{}
			kek := newKEK(t)
			log := logs.New(logBuf, slog.LevelDebug)
			nodes := []*mail.Outbox{
				{DB: db1, Keys: openKeys(t, db1, kek, clk), Clock: clk, Log: log, Config: srv.Config(sender), Node: "a", Batch: 100},
				{DB: db2, Keys: openKeys(t, db2, kek, clk), Clock: clk, Log: log, Config: srv.Config(sender), Node: "b", Batch: 100},
			}
			const n = 30
			for i := range n {
				if _, err := nodes[i%2].Enqueue(ctx, nodes[i%2].DB, patientAddr, mail.NewMessage{PracticeName: "Example Urology", PortalURL: "https://portal.example.org/"}); err != nil {
					t.Fatal(err)
				}
			}
			start := make(chan struct{})
			sent := make([]int, len(nodes))
			errs := make([]error, len(nodes))
			var wg sync.WaitGroup
			for i, o := range nodes {
				wg.Go(func() {
					<-start
					sent[i], errs[i] = o.SendDue(ctx)
				})
			}
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if sent[0]+sent[1] != n {
				t.Fatalf("nodes report %d + %d sent, want %d in all", sent[0], sent[1], n)
			}
			msgs := srv.Messages()
			ids := map[string]bool{}
			for _, m := range msgs {
				id := m.Header("Message-ID")
				if ids[id] {
					t.Fatalf("message %s delivered twice", id)
				}
				ids[id] = true
			}
			if len(ids) != n {
				t.Fatalf("%d distinct messages delivered, want %d", len(ids), n)
			}
			var unsent int
			if err := db1.QueryRowContext(ctx, `SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL OR attempts <> 1`).Scan(&unsent); err != nil || unsent != 0 {
				t.Fatalf("%d messages unsent or tried more than once (%v)", unsent, err)
			}
			t.Logf("node a sent %d, node b sent %d", sent[0], sent[1])
		})
	}
}

// openTwice opens one fresh, migrated database through two handles, as two
// server nodes would.
func openTwice(t *testing.T, d store.Dialect) (*store.DB, *store.DB) {
	t.Helper()
	ctx := context.Background()
	var u, dir string
	if d == store.Postgres {
		u = storetest.PostgresURL(t)
	} else {
		dir = t.TempDir()
	}
	open := func() *store.DB {
		db, err := store.Open(ctx, u, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db1 := open()
	if err := db1.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db2 := open()
	if d == store.SQLite && filepath.Dir(db2.Path) != dir {
		t.Fatalf("second handle opened %s", db2.Path)
	}
	return db1, db2
}

func TestClaimLeaseKeepsOtherNodesOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		id := e.enqueue(t, patientAddr, reset())
		// Another node claimed it and died mid-send.
		lease := t0.Add(5 * time.Minute).UnixMilli()
		if _, err := db.ExecContext(context.Background(), `UPDATE mail_outbox SET claimed_until = $1, attempts = 1 WHERE id = $2`, lease, id); err != nil {
			t.Fatal(err)
		}
		e.sendDue(t, 0)
		e.clk.Advance(5 * time.Minute) // the lease runs to its last millisecond
		e.sendDue(t, 0)
		e.clk.Advance(time.Millisecond)
		e.sendDue(t, 1)
		if s := e.status(t, id); s.Attempts != 2 {
			t.Fatalf("attempts = %d, want 2", s.Attempts)
		}
	})
}

func TestHeaderInjectionRejected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		bad := []string{
			patientAddr + "\r\nBcc: victim@example.com",
			patientAddr + "\nSubject: hi",
			"\"x\r\n\" <" + patientAddr + ">",
			patientAddr + ", other@example.com",
			"not an address",
			"",
		}
		for _, to := range bad {
			_, err := e.box.Enqueue(ctx, db, to, reset())
			if !errors.Is(err, mail.ErrBadAddress) {
				t.Errorf("Enqueue(%q) = %v, want ErrBadAddress", to, err)
			}
			if err != nil && strings.Contains(err.Error(), "example") {
				t.Errorf("error repeats the address: %v", err)
			}
		}
		m := reset()
		m.PracticeName = "Example\r\nBcc: victim@example.com"
		if _, err := e.box.Enqueue(ctx, db, patientAddr, m); err == nil {
			t.Error("practice name with a line break accepted")
		}
		if n := countQueued(t, db); n != 0 {
			t.Fatalf("%d messages queued, want 0", n)
		}
		cfg := e.box.Config
		cfg.From = "portal@example.org\r\nBcc: victim@example.com"
		if cfg.Validate() == nil {
			t.Error("From with a line break passed Validate")
		}
	})
}

func TestInvalidConfigClaimsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		id := e.enqueue(t, patientAddr, reset())
		e.box.Config.From = ""
		if _, err := e.box.SendDue(context.Background()); err == nil {
			t.Fatal("SendDue with no From succeeded")
		}
		if s := e.status(t, id); s.Attempts != 0 || s.LastError != "" {
			t.Fatalf("status = %+v, want untouched", s)
		}
	})
}

func TestPurge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		sentID := e.enqueue(t, patientAddr, reset())
		e.sendDue(t, 1)
		e.clk.Advance(time.Hour)
		queuedID := e.enqueue(t, patientAddr, reset())
		e.srv.SetSTARTTLS(false)
		e.sendDue(t, 0)
		n, err := e.box.Purge(context.Background(), e.clk.Now())
		if err != nil || n != 1 {
			t.Fatalf("Purge = %d, %v; want 1", n, err)
		}
		if _, err := e.box.Status(context.Background(), sentID); err == nil {
			t.Error("sent message survived the purge")
		}
		e.status(t, queuedID) // still queued
	})
}

func TestRunSendsAndStops(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	e := newEnv(t, db)
	e.enqueue(t, patientAddr, mail.NewSignIn{PracticeName: "Example Urology", When: t0, DeviceHint: "Firefox on Linux", PortalURL: "https://portal.example.org/"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.box.Run(ctx) }()
	msgs, err := e.srv.WaitFor(1, 10*time.Second)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if got := msgs[0].Header("Subject"); got != "New sign-in to your patient portal account" {
		t.Errorf("Subject = %q", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestImplicitTLS(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	e := newEnv(t, db)
	srv := mailtest.StartImplicitTLS(t)
	srv.RequireAuth("portal", "s3cret-pass")
	e.box.Config = srv.Config(sender)
	e.enqueue(t, patientAddr, reset())
	e.sendDue(t, 1)
	if msgs := srv.Messages(); len(msgs) != 1 || !msgs[0].TLS || msgs[0].AuthUser != "portal" {
		t.Fatalf("messages = %+v", msgs)
	}

	// An implicit-TLS client against a STARTTLS server fails its handshake
	// and sends nothing.
	e.box.Config = e.srv.Config(sender)
	e.box.Config.ImplicitTLS = true
	id := e.enqueue(t, patientAddr, reset())
	e.sendDue(t, 0)
	if s := e.status(t, id); !strings.Contains(s.LastError, "TLS handshake") {
		t.Fatalf("last_error = %q", s.LastError)
	}
	if got := mailCommands(e.srv); len(got) > 0 {
		t.Fatalf("commands %v reached the server", got)
	}
}
