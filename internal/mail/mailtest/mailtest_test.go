package mailtest_test

import (
	"net/smtp"
	"slices"
	"strings"
	"testing"
	"time"

	"uroportal/internal/mail/mailtest"
)

func dial(t *testing.T, srv *mailtest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSessionRecordsMessage(t *testing.T) {
	srv := mailtest.Start(t)
	srv.RequireAuth("u", "pw")
	c := dial(t, srv)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH offered before TLS")
	}
	if err := c.Mail("a@example.org"); err == nil {
		t.Fatal("MAIL accepted without authentication")
	}
	if err := c.StartTLS(srv.ClientTLS()); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "pw", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.net"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: hi\r\n\r\n.starts with a dot\r\n..two\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	msgs, err := srv.WaitFor(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.From != "a@example.org" || !slices.Equal(m.To, []string{"b@example.net"}) || !m.TLS || m.AuthUser != "u" {
		t.Fatalf("message = %+v", m)
	}
	if m.Header("Subject") != "hi" || m.Text() != ".starts with a dot\n..two\n" {
		t.Fatalf("subject %q, text %q: dot stuffing not undone", m.Header("Subject"), m.Text())
	}
}

func TestNoSTARTTLSAndFailures(t *testing.T) {
	srv := mailtest.Start(t)
	srv.SetSTARTTLS(false)
	c := dial(t, srv)
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS offered after SetSTARTTLS(false)")
	}
	srv.FailNext(1)
	srv.RejectRecipient("gone@example.net")
	c.Mail("a@example.org")
	if err := c.Rcpt("gone@example.net"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("rejected recipient: %v", err)
	}
	c.Rcpt("b@example.net")
	w, _ := c.Data()
	w.Write([]byte("x\r\n"))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("FailNext: %v", err)
	}
	if n := len(srv.Messages()); n != 0 { // recorded before the reply, so final now
		t.Fatalf("%d failed messages recorded", n)
	}
	if got := srv.Commands(); !slices.Contains(got, "RCPT") || slices.Contains(got, "STARTTLS") {
		t.Fatalf("commands = %v", got)
	}
}
