// Package logs builds Uroportal's application logger: JSON lines through
// log/slog with one redaction mechanism, so that no PHI, secret, password,
// token or code reaches a log file.
//
// Redaction happens in one place, the handler's ReplaceAttr:
//
//   - an attribute whose key (or any enclosing group's name) is, or contains
//     as a word, one of the sensitive words (password, token, email, name,
//     dob, mrn, value, ...) is written as "[redacted]";
//   - a value of type Secret or PHI is written as "[redacted]" under any key,
//     because its LogValue says so (types in other packages that carry PHI
//     implement slog.LogValuer the same way);
//   - a composite value (struct, map, slice, array, pointer) logged with
//     slog.Any is written as "[redacted]": the JSON handler would otherwise
//     print it field by field, which is how a whole patient record ends up in
//     a log. Log IDs and scalars, or give the type a LogValue method.
//
// Errors are logged as their Error() text; by convention error messages carry
// IDs, never PHI.
//
// Use the Key constants for attribute keys so that log queries stay stable.
package logs

import (
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"unicode"
)

// Redacted is what a sensitive value is replaced with.
const Redacted = "[redacted]"

// Attribute keys. IDs are random and are not PHI; log them freely.
const (
	KeyRequestID = "request_id"
	KeyRoute     = "route"
	KeyMethod    = "method"
	KeyStatus    = "status"
	KeyDuration  = "duration_ms"
	KeyBytes     = "bytes"
	KeyError     = "error"
	KeyKind      = "kind"
	KeyUserID    = "user_id"
	KeyPatientID = "patient_id"
	KeyNode      = "node"
	KeyAddr      = "addr"
	KeyListener  = "listener"
	KeyCheck     = "check"
	KeyFile      = "file"
	KeyPanic     = "panic"
	KeyStack     = "stack"
)

// sensitiveWords are matched against a key as a whole and against each word
// of it (split at '_', '-', '.', ' ' and lower-to-upper case changes), so
// "patient_name", "firstName", "X-CSRF-Token" and "Set-Cookie" all match.
var sensitiveWords = map[string]bool{
	"password": true, "passphrase": true, "token": true, "secret": true,
	"code": true, "otp": true, "totp": true, "recovery": true, "kek": true,
	"key": true, "authorization": true, "cookie": true, "set-cookie": true,
	"session": true, "email": true, "name": true, "dob": true, "birth": true,
	"mrn": true, "phone": true, "address": true, "ssn": true, "value": true,
	"note": true,
	// Spellings that do not split into the words above.
	"username": true, "apikey": true, "passwd": true, "credential": true,
	"credentials": true, "bearer": true, "birthdate": true, "email_address": true,
}

// New returns a logger that writes JSON lines at level and above to w, with
// redaction as described in the package documentation.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: redact,
	}))
}

// redact is the one redaction mechanism.
func redact(groups []string, a slog.Attr) slog.Attr {
	if groups == nil {
		switch a.Key {
		case slog.TimeKey, slog.LevelKey, slog.MessageKey, slog.SourceKey:
			return a
		}
	}
	if Sensitive(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	for _, g := range groups {
		if Sensitive(g) {
			return slog.String(a.Key, Redacted)
		}
	}
	if a.Value.Kind() == slog.KindAny {
		return slog.Attr{Key: a.Key, Value: safeAny(a.Value.Any())}
	}
	return a
}

// safeAny keeps values that have a deliberate scalar form and hides the rest.
func safeAny(v any) slog.Value {
	switch v := v.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(v.Error())
	case encoding.TextMarshaler: // e.g. uuid.UUID, netip.Addr
		return slog.AnyValue(v)
	case fmt.Stringer:
		return slog.StringValue(v.String())
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array, reflect.Pointer,
		reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return slog.StringValue(Redacted)
	}
	return slog.AnyValue(v)
}

// Sensitive reports whether an attribute key names data that must not be
// logged.
func Sensitive(key string) bool {
	k := strings.ToLower(key)
	if sensitiveWords[k] {
		return true
	}
	for _, w := range words(key) {
		if sensitiveWords[w] {
			return true
		}
	}
	return false
}

// words splits a key into lower-case words at separators and at
// lower-to-upper case changes ("patientName" → "patient", "name").
func words(key string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	var prev rune
	for _, r := range key {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	return out
}

// Secret is a string that must never be logged: a password, token, code or
// key. Convert with string(s) where the real value is needed.
type Secret string

// LogValue hides the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// PHI is a string of protected health information: a name, date of birth,
// MRN, contact detail or clinical value. It is safe to log under any key
// because it logs as "[redacted]".
type PHI string

// LogValue hides the PHI.
func (PHI) LogValue() slog.Value { return slog.StringValue(Redacted) }
