package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"uroportal/internal/fault"
	"uroportal/internal/logs"
)

// HandlerFunc is an HTTP handler that returns an error instead of writing
// one. Server.handle turns it into an http.Handler.
type HandlerFunc func(http.ResponseWriter, *http.Request) error

// RetryAfterError may be anywhere in an error's chain to set the Retry-After
// of a 429; without one, 429s ask for a minute.
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// CodedError may be anywhere in an error's chain to give a more specific
// "error" code in JSON responses (e.g. "invalid_credentials") than the kind.
type CodedError interface {
	error
	ErrorCode() string
}

const defaultRetryAfter = time.Minute

// handle adapts a HandlerFunc: a returned error becomes a safe response with
// the status of its kind, and its detail goes to the log with the request ID.
func (s *Server) handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := record(w)
		if err := h(rec, r); err != nil {
			s.writeError(rec, r, err)
		}
	})
}

// errorView is what an error page or JSON error shows.
type errorView struct {
	Status    int
	Code      string
	Title     string
	Message   string
	RequestID string
}

// writeError logs err and writes a safe response for it: JSON for /api/
// paths, an HTML page otherwise. It never writes err.Error().
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	kind := fault.KindOf(err)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		kind = fault.TooLarge
	}
	status := statusOf(kind)
	v := errorView{
		Status:    status,
		Code:      kind.String(),
		Title:     errorTitles[kind],
		Message:   safeMessage(err, kind),
		RequestID: RequestID(r.Context()),
	}
	if tooLarge != nil {
		v.Message = fmt.Sprintf("What you sent is too large. The limit is %s; please send less at a time.", sizeText(tooLarge.Limit))
	}
	var coded CodedError
	if errors.As(err, &coded) && coded.ErrorCode() != "" {
		v.Code = coded.ErrorCode()
	}

	level := slog.LevelInfo
	switch kind {
	case fault.Internal:
		level = slog.LevelError
	case fault.NotFound:
		level = slog.LevelDebug // scanners make plenty
	}
	if s.log.Enabled(r.Context(), level) {
		attrs := []slog.Attr{
			slog.String(logs.KeyRequestID, v.RequestID),
			slog.String(logs.KeyMethod, methodLabel(r.Method)),
			slog.String(logs.KeyRoute, r.Pattern),
			slog.Int(logs.KeyStatus, status),
			slog.String(logs.KeyKind, kind.String()),
		}
		if detail := err.Error(); detail != "" {
			attrs = append(attrs, slog.String(logs.KeyError, detail))
		}
		s.log.LogAttrs(r.Context(), level, "request failed", attrs...)
	}

	if rec, ok := w.(*recorder); ok && rec.wroteHeader {
		return // too late to change the response; the log has the detail
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Disposition", "Content-Encoding", "ETag", "Last-Modified", "Retry-After"} {
		h.Del(k)
	}
	setSecurityHeaders(h) // also resets Cache-Control to no-store
	switch kind {
	case fault.RateLimited:
		d := defaultRetryAfter
		var ra RetryAfterError
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			d = ra.RetryAfter()
		}
		h.Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	case fault.Unauthenticated:
		if isAPI(r) {
			h.Set("WWW-Authenticate", `Bearer realm="uroportal"`)
		}
	}
	if isAPI(r) {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}{v.Code, v.Message})
		return
	}
	s.pages.renderError(w, r, v)
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func statusOf(k fault.Kind) int {
	switch k {
	case fault.Invalid:
		return http.StatusBadRequest
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict:
		return http.StatusConflict
	case fault.Unauthenticated:
		return http.StatusUnauthorized
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.RateLimited:
		return http.StatusTooManyRequests
	case fault.TooLarge:
		return http.StatusRequestEntityTooLarge
	case fault.Unsupported:
		return http.StatusUnsupportedMediaType
	}
	return http.StatusInternalServerError
}

// errorTitles head the HTML error page.
var errorTitles = map[fault.Kind]string{
	fault.Internal:        "Something went wrong",
	fault.Invalid:         "Please check what you entered",
	fault.NotFound:        "Page not found",
	fault.Conflict:        "That could not be done",
	fault.Unsupported:     "That format is not accepted",
	fault.Unauthenticated: "Please sign in",
	fault.Forbidden:       "You cannot open this page",
	fault.RateLimited:     "Too many tries",
	fault.TooLarge:        "Too large to send",
}

// defaultMessages are used when an error of that kind carries no message.
var defaultMessages = map[fault.Kind]string{
	fault.Invalid:         "Something in the request was not right. Please check it and try again.",
	fault.NotFound:        "We could not find that page. Check the address, or go back to the home page.",
	fault.Conflict:        "That could not be done because something changed in the meantime. Reload the page and try again.",
	fault.Unauthenticated: "Please sign in to continue.",
	fault.Forbidden:       "You do not have access to this. If you think you should, call the practice.",
	fault.RateLimited:     "There have been too many tries. Please wait a minute and try again.",
	fault.TooLarge:        "What you sent is too large. Please send less at a time.",
}

// safeMessage is fault.Message, with a plain default for kinds other than
// Internal when the error carries no message of its own.
func safeMessage(err error, kind fault.Kind) string {
	m := fault.Message(err)
	if kind != fault.Internal && m == fault.Message(nil) {
		if d, ok := defaultMessages[kind]; ok {
			return d
		}
	}
	return m
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
