package web

import (
	"context"
	"net/http"
)

// recorder remembers the status and size of a response. The middleware that
// need them (recover, access log, metrics) share one recorder per request.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

// record returns w as a recorder, wrapping it only if it is not one already.
func record(w http.ResponseWriter) *recorder {
	if rec, ok := w.(*recorder); ok {
		return rec
	}
	return &recorder{ResponseWriter: w}
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader && code >= 200 {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers and promhttp flush through the wrapper.
func (r *recorder) Flush() {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// statusFor is the status to report for a request that finished (completed)
// or panicked: a panic before any header becomes the 500 recover sends.
func (r *recorder) statusFor(completed bool) int {
	switch {
	case r.wroteHeader:
		return r.status
	case completed:
		return http.StatusOK
	}
	return http.StatusInternalServerError
}

// routeInfo carries the matched route pattern from the mux back out to the
// access log and metrics, which run before the mux and see an earlier
// *http.Request than the one the mux annotates.
type routeInfo struct{ pattern string }

type routeInfoKey struct{}

// withRouteInfo returns the request's routeInfo, attaching a new one if
// there is none yet.
func withRouteInfo(r *http.Request) (*routeInfo, *http.Request) {
	if ri, ok := r.Context().Value(routeInfoKey{}).(*routeInfo); ok {
		return ri, r
	}
	ri := &routeInfo{}
	return ri, r.WithContext(context.WithValue(r.Context(), routeInfoKey{}, ri))
}

// recordPattern wraps the mux and records the pattern it matched (r.Pattern,
// set by ServeMux) even if the handler panics.
func recordPattern(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if ri, ok := r.Context().Value(routeInfoKey{}).(*routeInfo); ok {
				ri.pattern = r.Pattern
			}
		}()
		mux.ServeHTTP(w, r)
	})
}

// routeLabel is the pattern for logs and metrics: never the raw path, which
// may carry IDs or PHI.
func (ri *routeInfo) label() string {
	if ri.pattern == "" {
		return "unmatched"
	}
	return ri.pattern
}

// methodLabel bounds the method to the standard set, for logs and metrics.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
