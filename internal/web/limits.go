package web

import (
	"net/http"
)

// Request size limits.
const (
	// DefaultBodyLimit bounds a request body unless Options.BodyLimit says
	// otherwise.
	DefaultBodyLimit = 1 << 20
	// DefaultMaxHeaderBytes bounds the request line and headers on every
	// server (portal, redirect, admin).
	DefaultMaxHeaderBytes = 64 << 10
)

// LimitBody caps request bodies at n bytes. A body whose declared length is
// over the limit is refused at once with 413; one that grows past it makes
// reads fail with *http.MaxBytesError, which the error adapter maps to 413.
func LimitBody(n int64, writeError ErrorWriter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				writeError(w, r, &http.MaxBytesError{Limit: n})
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}
