package mail

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

var textprotoError550 = textproto.Error{Code: 550, Msg: "5.1.1 <pat@example.net>: Recipient address rejected"}

type mimeDecoder struct{ mime.WordDecoder }

func (d *mimeDecoder) decode(s string) string {
	out, err := d.DecodeHeader(s)
	if err != nil {
		return s
	}
	return out
}

func decodeQP(t *testing.T, m *mail.Message) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseRecipient(t *testing.T) {
	good := map[string]string{
		"pat@example.net":                  "pat@example.net",
		"Pat Testperson <pat@example.net>": "pat@example.net", // the name is dropped
		"  pat+portal@sub.example.net ":    "pat+portal@sub.example.net",
	}
	for in, want := range good {
		if got, err := parseRecipient(in); err != nil || got != want {
			t.Errorf("parseRecipient(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "pat", "pat@example.net\r\nBcc: x@y", "pat@example.net\n", "a@b, c@d",
		"pat@example.net\x00", "<>", strings.Repeat("a", 250) + "@example.net", "pät@example.net",
	}
	for _, in := range bad {
		if _, err := parseRecipient(in); !errors.Is(err, ErrBadAddress) {
			t.Errorf("parseRecipient(%q) = %v, want ErrBadAddress", in, err)
		}
	}
}

func TestBuildMessage(t *testing.T) {
	from, _ := mail.ParseAddress("Exämple Urology <portal@example.org>")
	date := time.Date(2031, 3, 4, 9, 30, 0, 0, time.UTC)
	body := "Hello,\n.leading dot stays for the client to stuff\n" + strings.Repeat("long line ", 20) + "\nnaïve €\n"
	msg, err := buildMessage("id-1", date, from, "pat@example.net", "Résumé of nothing", body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(bytes.TrimSuffix(msg, []byte("\r\n")), []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("bare CR or LF in %q", line)
		}
		if len(line) > 998 {
			t.Fatalf("line of %d bytes", len(line))
		}
		for _, c := range line {
			if c >= 0x80 {
				t.Fatalf("8-bit byte in %q: the message should be 7-bit clean", line)
			}
		}
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mimeDecoder)
	checks := map[string]string{
		"Date":       "Tue, 04 Mar 2031 09:30:00 +0000",
		"To":         "<pat@example.net>",
		"Message-ID": "<id-1@example.org>",
		"Subject":    "Résumé of nothing",
		"From":       `Exämple Urology <portal@example.org>`,
	}
	for h, want := range checks {
		if got := dec.decode(parsed.Header.Get(h)); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if got := decodeQP(t, parsed); got != strings.ReplaceAll(body, "\n", "\r\n") {
		t.Errorf("body round trip:\n%q\nwant\n%q", got, body)
	}

	if _, err := buildMessage("id\r\nBcc: x@y", date, from, "pat@example.net", "s", "b"); err == nil {
		t.Error("header injection through the ID accepted")
	}
	// Q-encoding turns a line break in the subject into =0A: safe, one line.
	msg, err = buildMessage("id", date, from, "pat@example.net", "s\r\nBcc: x@y", "b")
	if err == nil {
		head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
		if n := bytes.Count(head, []byte("\r\n")) + 1; n != 9 || bytes.Contains(head, []byte("\r\nBcc")) {
			t.Errorf("subject with a line break gave %d header lines:\n%s", n, head)
		}
	}
}

// FuzzRecipient checks that no accepted recipient can add a header line.
func FuzzRecipient(f *testing.F) {
	for _, s := range []string{"pat@example.net", "A <a@b.c>", "a@b.c\r\nBcc: d@e.f", "\"x\r\n\"@b.c", "a@b.c\nX: y"} {
		f.Add(s)
	}
	from, _ := mail.ParseAddress("portal@example.org")
	f.Fuzz(func(t *testing.T, to string) {
		addr, err := parseRecipient(to)
		if err != nil {
			return
		}
		msg, err := buildMessage("id", time.Unix(0, 0), from, addr, "subject", "body\n")
		if err != nil {
			t.Fatalf("accepted %q but cannot build: %v", to, err)
		}
		head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
		if n := bytes.Count(head, []byte("\r\n")); n != 8 {
			t.Fatalf("recipient %q gave %d header lines:\n%s", to, n+1, head)
		}
		if bytes.ContainsAny(head, "\n\r") && bytes.Count(head, []byte("\n")) != bytes.Count(head, []byte("\r\n")) {
			t.Fatalf("bare line break in header for %q", to)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Host: "smtp.example.org", Port: 587, From: "Example Urology <portal@example.org>", Username: "u", Password: "hunter2-secret"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := map[string]func(*Config){
		"no host":          func(c *Config) { c.Host = "" },
		"host with space":  func(c *Config) { c.Host = "smtp example" },
		"host URL":         func(c *Config) { c.Host = "smtp://smtp.example.org" },
		"port 0":           func(c *Config) { c.Port = 0 },
		"port too big":     func(c *Config) { c.Port = 70000 },
		"no from":          func(c *Config) { c.From = "" },
		"from not address": func(c *Config) { c.From = "portal" },
		"from CRLF":        func(c *Config) { c.From = "portal@example.org\r\nBcc: x@y" },
		"password only":    func(c *Config) { c.Username = "" },
		"username only":    func(c *Config) { c.Password = "" },
		"hello with space": func(c *Config) { c.HelloName = "my host" },
		"negative timeout": func(c *Config) { c.SessionTimeout = -1 },
		"skip verify":      func(c *Config) { c.TLS = &tls.Config{InsecureSkipVerify: true} },
	}
	for name, mutate := range bad {
		c := ok
		mutate(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: Validate passed", name)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
	if got := (Config{Host: "h", Port: 465}).implicitTLS(); !got {
		t.Error("port 465 is not implicit TLS")
	}
	if got := (Config{Host: "::1", Port: 25}).addr(); got != "[::1]:25" {
		t.Errorf("addr = %q", got)
	}
	tc := (Config{Host: "smtp.example.org", TLS: &tls.Config{MinVersion: tls.VersionTLS10}}).tlsConfig()
	if tc.ServerName != "smtp.example.org" || tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("tlsConfig: ServerName %q, MinVersion %x", tc.ServerName, tc.MinVersion)
	}
}

func TestBackoff(t *testing.T) {
	o := &Outbox{}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := o.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

func TestDeliveryErrorIsSafe(t *testing.T) {
	srvErr := classify("RCPT TO", "pat@example.net", &textprotoError550)
	if s := srvErr.Error(); strings.Contains(s, "pat@") || !strings.Contains(s, "550 5.1.1") || !srvErr.permanent {
		t.Errorf("RCPT 550 → %q (permanent %v)", s, srvErr.permanent)
	}
	netErr := classify("connect", "pat@example.net", errors.New("dial: pat@example.net refused"))
	if strings.Contains(netErr.Error(), "pat@") || netErr.permanent {
		t.Errorf("connect → %q", netErr.Error())
	}
}
