package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"regexp"
	"strings"
	"time"
)

// deliveryError describes a failed attempt in words that are safe to store
// and log: the stage and the server's reply code, never the server's text,
// which may echo the recipient address.
type deliveryError struct {
	stage string // "connect", "starttls", "auth", "MAIL FROM", "RCPT TO", "DATA", ...
	code  int    // SMTP reply code, 0 for network and TLS errors
	enh   string // enhanced status code such as 5.1.1, if the server gave one
	msg   string // safe detail
	// permanent means retrying this message cannot help (the recipient or
	// the content was refused with a 5xx reply).
	permanent bool
}

func (e *deliveryError) Error() string {
	var b strings.Builder
	b.WriteString(e.stage)
	b.WriteString(": ")
	if e.code != 0 {
		fmt.Fprintf(&b, "server replied %d", e.code)
		if e.enh != "" {
			b.WriteString(" " + e.enh)
		}
		if e.msg != "" {
			b.WriteString(" (" + e.msg + ")")
		}
		return b.String()
	}
	b.WriteString(e.msg)
	return b.String()
}

var enhancedCode = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}\b`)

// classify turns an error from stage into a deliveryError. to is redacted from
// any text kept, in case a library quotes it.
func classify(stage, to string, err error) *deliveryError {
	var de *deliveryError
	if errors.As(err, &de) {
		return de
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		e := &deliveryError{stage: stage, code: te.Code}
		if m := enhancedCode.FindString(te.Msg); m != "" {
			e.enh = m
		}
		e.permanent = te.Code >= 500 && (stage == "RCPT TO" || stage == "DATA")
		return e
	}
	msg := err.Error()
	if to != "" {
		msg = strings.ReplaceAll(msg, to, "[recipient]")
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return &deliveryError{stage: stage, msg: msg}
}

// deliver sends one message in one SMTP session. It refuses to go on without
// TLS: no AUTH, MAIL or message data ever crosses a plaintext connection.
func deliver(ctx context.Context, c Config, from, to string, msg []byte) (err error) {
	tlsCfg := c.tlsConfig()
	d := net.Dialer{Timeout: c.dialTimeout()}
	dialCtx, cancel := context.WithTimeout(ctx, c.dialTimeout())
	defer cancel()
	conn, err := d.DialContext(dialCtx, "tcp", c.addr())
	if err != nil {
		return classify("connect", to, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(c.sessionTimeout())); err != nil {
		return classify("connect", to, err)
	}
	// Cancelling ctx unblocks any read or write in progress.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if c.implicitTLS() {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			return classify("TLS handshake", to, err)
		}
		conn = tc
	}
	// NewClient treats a *tls.Conn as secure, so PlainAuth works on it.
	client, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return classify("greeting", to, err)
	}
	defer client.Close()
	if err := client.Hello(c.helloName()); err != nil {
		return classify("EHLO", to, err)
	}
	if !c.implicitTLS() {
		if ok, _ := client.Extension("STARTTLS"); !ok {
			client.Quit()
			return &deliveryError{stage: "STARTTLS", msg: "the server did not offer STARTTLS; not sent, because mail is only sent over TLS"}
		}
		if err := client.StartTLS(tlsCfg); err != nil {
			e := classify("STARTTLS", to, err)
			if e.code == 0 {
				e.msg = "TLS handshake failed: " + e.msg
			}
			return e
		}
	}
	if st, ok := client.TLSConnectionState(); !ok || !st.HandshakeComplete {
		// Cannot happen after the steps above; refuse rather than trust that.
		return &deliveryError{stage: "STARTTLS", msg: "the connection is not encrypted; not sent"}
	}
	if c.Username != "" {
		if ok, _ := client.Extension("AUTH"); !ok {
			return &deliveryError{stage: "AUTH", msg: "the server does not offer AUTH but a username is configured"}
		}
		if err := client.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			e := classify("AUTH", to, err)
			if e.code == 0 {
				// net/smtp's own auth errors are fixed strings; the server's
				// text is dropped above. Keep the password out regardless.
				e.msg = "authentication failed"
			}
			return e
		}
	}
	if err := client.Mail(from); err != nil {
		return classify("MAIL FROM", to, err)
	}
	if err := client.Rcpt(to); err != nil {
		return classify("RCPT TO", to, err)
	}
	w, err := client.Data()
	if err != nil {
		return classify("DATA", to, err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return classify("DATA", to, err)
	}
	// Close sends the final dot and reads the server's verdict: 250 means
	// the server has taken responsibility for the message.
	if err := w.Close(); err != nil {
		return classify("DATA", to, err)
	}
	client.Quit() // the message is accepted; a failed QUIT changes nothing
	return nil
}
