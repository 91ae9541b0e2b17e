package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"uroportal/internal/fault"
	"uroportal/internal/logs"
)

// ErrorWriter writes a safe error response for err (see Server.writeError).
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// Recover turns a panic into a logged 500 with a safe error page; the client
// never sees the panic value or a stack trace. If the response had already
// started, the connection is aborted instead so the client cannot mistake a
// truncated page for a whole one.
func Recover(log *slog.Logger, writeError ErrorWriter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := record(w)
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String(logs.KeyRequestID, RequestID(r.Context())),
					slog.String(logs.KeyMethod, methodLabel(r.Method)),
					slog.String(logs.KeyPanic, panicText(p)),
					slog.String(logs.KeyStack, string(debug.Stack())))
				if rec.wroteHeader {
					panic(http.ErrAbortHandler)
				}
				writeError(rec, r, fault.E(fault.Internal, "", errors.New("panic")))
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// panicText describes a panic value for the log. Errors and strings are
// written like error messages (which by convention carry IDs, never PHI);
// any other value only by its type, since it might be a record full of PHI.
func panicText(p any) string {
	switch v := p.(type) {
	case error:
		return v.Error()
	case string:
		return v
	}
	return fmt.Sprintf("value of type %T", p)
}
