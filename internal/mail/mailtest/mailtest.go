// Package mailtest runs an SMTP server in the test process, on loopback, for
// tests that send email. It speaks enough ESMTP for Uroportal's client
// (EHLO/HELO, STARTTLS with a certificate it makes itself, AUTH PLAIN, MAIL,
// RCPT, DATA, RSET, NOOP, QUIT), records what it receives, and can be told to
// misbehave: not offer STARTTLS, refuse a recipient, or fail temporarily.
//
//	srv := mailtest.Start(t)
//	outbox := &mail.Outbox{..., Config: srv.Config("portal@example.org")}
//	... outbox.SendDue(ctx) ...
//	msgs := srv.Messages()
package mailtest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"uroportal/internal/mail"
)

// Message is one message the server accepted.
type Message struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	// Data is the message as sent after DATA, dot-unstuffed, lines ending
	// in CRLF.
	Data []byte
	// TLS reports whether the session was encrypted when the message came.
	TLS bool
	// AuthUser is the user that authenticated, or "".
	AuthUser string
}

// Header returns the decoded value of the header field name.
func (m Message) Header(name string) string {
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	v := msg.Header.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Text returns the body, decoded from quoted-printable if it is, with LF
// line endings.
func (m Message) Text() string {
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	var r io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, _ := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// Server is a running test SMTP server.
type Server struct {
	ln       net.Listener
	tls      *tls.Config
	pool     *x509.CertPool
	implicit bool

	mu         sync.Mutex
	starttls   bool
	failNext   int
	rejectRcpt map[string]bool
	user, pass string
	msgs       []Message
	cmds       []string
	changed    chan struct{} // closed and replaced whenever msgs grows
	conns      map[net.Conn]struct{}
	closed     bool
	wg         sync.WaitGroup
}

// Start runs a server on 127.0.0.1 with a random port, offering STARTTLS. It
// stops when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, false)
}

// StartImplicitTLS runs a server that speaks TLS from the first byte, as on
// port 465; it never offers STARTTLS.
func StartImplicitTLS(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, true)
}

func start(tb testing.TB, implicit bool) *Server {
	tb.Helper()
	cert, pool, err := selfSigned()
	if err != nil {
		tb.Fatalf("mailtest: certificate: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{
		ln:         ln,
		tls:        &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		pool:       pool,
		implicit:   implicit,
		starttls:   !implicit,
		rejectRcpt: map[string]bool{},
		changed:    make(chan struct{}),
		conns:      map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the server's IP address, "127.0.0.1".
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the server's port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// ClientTLS returns a client configuration that trusts the server's
// certificate (made for 127.0.0.1, ::1 and localhost), with ServerName
// 127.0.0.1.
func (s *Server) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.pool, ServerName: s.Host(), MinVersion: tls.VersionTLS12}
}

// Config returns a mail.Config that sends to this server from the address
// from, trusting its certificate; with RequireAuth set, it carries the
// credentials too.
func (s *Server) Config(from string) mail.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return mail.Config{
		Host: s.Host(), Port: s.Port(), From: from, HelloName: "uroportal.test",
		Username: s.user, Password: s.pass, TLS: s.ClientTLS(), ImplicitTLS: s.implicit,
		DialTimeout: 10 * time.Second, SessionTimeout: 30 * time.Second,
	}
}

// SetSTARTTLS chooses whether EHLO offers STARTTLS (it does by default).
func (s *Server) SetSTARTTLS(on bool) {
	s.mu.Lock()
	s.starttls = on && !s.implicit
	s.mu.Unlock()
}

// FailNext makes the next n messages fail with a temporary error (451) at
// the end of DATA; they are not recorded.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

// RejectRecipient makes RCPT TO of addr fail permanently (550), with a reply
// that quotes the address as real servers do.
func (s *Server) RejectRecipient(addr string) {
	s.mu.Lock()
	s.rejectRcpt[strings.ToLower(addr)] = true
	s.mu.Unlock()
}

// RequireAuth makes the server offer AUTH PLAIN (after STARTTLS only) and
// refuse MAIL until a client authenticates as user with pass.
func (s *Server) RequireAuth(user, pass string) {
	s.mu.Lock()
	s.user, s.pass = user, pass
	s.mu.Unlock()
}

// Messages returns a copy of the messages received so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Commands returns the verb of every command received, in order, over all
// sessions ("EHLO", "STARTTLS", "MAIL", ...). Tests use it to check what a
// client did before TLS; arguments are not kept.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// WaitFor waits until at least n messages have arrived, or timeout passes,
// and returns the messages received.
func (s *Server) WaitFor(n int, timeout time.Duration) ([]Message, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		msgs, ch := append([]Message(nil), s.msgs...), s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs, nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return msgs, fmt.Errorf("mailtest: %d messages arrived within %v, want %d", len(msgs), timeout, n)
		}
	}
}

// Close stops the server and waits for its sessions to end.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// session is the state of one SMTP conversation.
type session struct {
	s      *Server
	r      *bufio.Reader
	w      *bufio.Writer
	tls    bool
	helo   bool
	auth   string
	from   string
	to     []string
	inMail bool
}

func (ss *session) reply(lines ...string) error {
	for _, l := range lines {
		ss.w.WriteString(l + "\r\n")
	}
	return ss.w.Flush()
}

func (ss *session) readLine() (string, error) {
	line, err := ss.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) > 4096 {
		return "", errors.New("line too long")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (ss *session) resetTx() { ss.from, ss.to, ss.inMail = "", nil, false }

func (s *Server) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(time.Minute)) // a stuck client cannot hang a test forever
	if s.implicit {
		tc := tls.Server(c, s.tls)
		if tc.Handshake() != nil {
			return
		}
		c = tc
	}
	ss := &session{s: s, r: bufio.NewReader(c), w: bufio.NewWriter(c), tls: s.implicit}
	if ss.reply("220 mailtest ESMTP ready") != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.mu.Lock()
		s.cmds = append(s.cmds, verb)
		starttls, user, pass := s.starttls, s.user, s.pass
		s.mu.Unlock()
		switch verb {
		case "EHLO":
			ss.helo = true
			ss.resetTx()
			lines := []string{"250-mailtest greets " + arg, "250-8BITMIME", "250-ENHANCEDSTATUSCODES"}
			if starttls && !ss.tls {
				lines = append(lines, "250-STARTTLS")
			}
			if user != "" && ss.tls {
				lines = append(lines, "250-AUTH PLAIN")
			}
			lines = append(lines, "250 SIZE 10485760")
			err = ss.reply(lines...)
		case "HELO":
			ss.helo = true
			ss.resetTx()
			err = ss.reply("250 mailtest")
		case "STARTTLS":
			if !starttls || ss.tls {
				err = ss.reply("502 5.5.1 STARTTLS not available")
				break
			}
			if err = ss.reply("220 2.0.0 ready to start TLS"); err != nil {
				return
			}
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			// RFC 3207: forget everything said before TLS.
			ss = &session{s: s, r: bufio.NewReader(tc), w: bufio.NewWriter(tc), tls: true}
		case "AUTH":
			err = ss.authPlain(arg, user, pass)
		case "MAIL":
			switch {
			case !ss.helo:
				err = ss.reply("503 5.5.1 say EHLO first")
			case user != "" && ss.auth == "":
				err = ss.reply("530 5.7.0 authentication required")
			case ss.inMail:
				err = ss.reply("503 5.5.1 nested MAIL")
			default:
				addr, ok := path(arg, "FROM:")
				if !ok {
					err = ss.reply("501 5.5.4 syntax: MAIL FROM:<address>")
					break
				}
				ss.from, ss.inMail = addr, true
				err = ss.reply("250 2.1.0 OK")
			}
		case "RCPT":
			addr, ok := path(arg, "TO:")
			s.mu.Lock()
			rejected := s.rejectRcpt[strings.ToLower(addr)]
			s.mu.Unlock()
			switch {
			case !ss.inMail:
				err = ss.reply("503 5.5.1 need MAIL first")
			case !ok || addr == "":
				err = ss.reply("501 5.5.4 syntax: RCPT TO:<address>")
			case rejected:
				err = ss.reply("550 5.1.1 <" + addr + ">: Recipient address rejected: user unknown")
			default:
				ss.to = append(ss.to, addr)
				err = ss.reply("250 2.1.5 OK")
			}
		case "DATA":
			if len(ss.to) == 0 {
				err = ss.reply("503 5.5.1 need RCPT first")
				break
			}
			if err = ss.reply("354 end data with <CR><LF>.<CR><LF>"); err != nil {
				return
			}
			data, rerr := ss.readData()
			if rerr != nil {
				return
			}
			err = ss.deliver(data)
		case "RSET":
			ss.resetTx()
			err = ss.reply("250 2.0.0 OK")
		case "NOOP":
			err = ss.reply("250 2.0.0 OK")
		case "QUIT":
			ss.reply("221 2.0.0 bye")
			return
		default:
			err = ss.reply("502 5.5.2 command not recognized")
		}
		if err != nil {
			return
		}
	}
}

func (ss *session) authPlain(arg, user, pass string) error {
	mech, resp, _ := strings.Cut(arg, " ")
	switch {
	case user == "" || !strings.EqualFold(mech, "PLAIN"):
		return ss.reply("504 5.5.4 mechanism not supported")
	case !ss.tls:
		return ss.reply("538 5.7.11 encryption required")
	case ss.auth != "":
		return ss.reply("503 5.5.1 already authenticated")
	}
	if resp == "" {
		if err := ss.reply("334 "); err != nil {
			return err
		}
		var err error
		if resp, err = ss.readLine(); err != nil {
			return err
		}
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 || parts[1] != user || parts[2] != pass {
		return ss.reply("535 5.7.8 authentication failed")
	}
	ss.auth = user
	return ss.reply("235 2.7.0 authenticated")
}

// readData reads the message up to the lone dot, undoing dot stuffing.
func (ss *session) readData() ([]byte, error) {
	var b bytes.Buffer
	for {
		line, err := ss.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line == ".\r\n" || line == ".\n" {
			return b.Bytes(), nil
		}
		if strings.HasPrefix(line, ".") {
			line = line[1:]
		}
		b.WriteString(line)
		if b.Len() > 10<<20 {
			return nil, errors.New("message too large")
		}
	}
}

func (ss *session) deliver(data []byte) error {
	s := ss.s
	s.mu.Lock()
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		ss.resetTx()
		return ss.reply("451 4.3.0 temporary failure, try again later")
	}
	s.msgs = append(s.msgs, Message{From: ss.from, To: ss.to, Data: data, TLS: ss.tls, AuthUser: ss.auth})
	n := len(s.msgs)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	ss.resetTx()
	return ss.reply("250 2.0.0 OK queued as " + strconv.Itoa(n))
}

// path parses "FROM:<addr> PARAMS" (prefix "FROM:") and returns addr.
func path(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost and a pool
// that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
