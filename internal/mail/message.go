package mail

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// ErrBadAddress means a recipient is not one plain email address. The error
// never repeats the address.
var ErrBadAddress = errors.New("mail: the recipient is not a valid email address")

// parseRecipient returns the bare address of to ("a@b.example"), refusing
// line breaks, lists and anything longer than SMTP allows. A display name is
// dropped: it would be a patient's name in a header.
func parseRecipient(to string) (string, error) {
	if to == "" || len(to) > 320 || hasCRLF(to) || strings.ContainsRune(to, 0) {
		return "", ErrBadAddress
	}
	a, err := mail.ParseAddress(to)
	if err != nil {
		return "", ErrBadAddress
	}
	if len(a.Address) > 254 || !strings.Contains(a.Address, "@") || !safeToken(a.Address) {
		// safeToken also refuses non-ASCII: mailbox names in UTF-8 need
		// SMTPUTF8, which not every relay offers.
		return "", ErrBadAddress
	}
	return a.Address, nil
}

// header is one header field; build checks each value.
type header struct{ name, value string }

// buildMessage writes an RFC 5322 message: CRLF line endings, the subject
// RFC 2047-encoded when not ASCII, a quoted-printable UTF-8 text body. Dot
// stuffing is the SMTP client's job.
func buildMessage(id string, date time.Time, from *mail.Address, to, subject, body string) ([]byte, error) {
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	hs := []header{
		{"Date", date.Format(time.RFC1123Z)},
		{"From", from.String()},
		{"To", (&mail.Address{Address: to}).String()},
		{"Subject", mime.QEncoding.Encode("utf-8", subject)},
		{"Message-ID", "<" + id + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
	}
	var b bytes.Buffer
	for _, h := range hs {
		if hasCRLF(h.value) || strings.ContainsRune(h.value, 0) {
			return nil, fmt.Errorf("mail: the %s header contains a line break", h.name)
		}
		b.WriteString(h.name + ": " + h.value + "\r\n")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	// Templates use \n; the writer turns each into CRLF.
	if _, err := qp.Write([]byte(strings.ReplaceAll(body, "\r\n", "\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}
