package web

import (
	"log/slog"
	"net/http"

	"uroportal/internal/clock"
	"uroportal/internal/logs"
)

// AccessLog writes one log line per request: method, route pattern, status,
// duration, bytes and request ID. It logs the pattern the mux matched
// ("GET /patients/{id}/results"), never the raw path or query string, which
// can carry IDs and PHI, and never the client address.
func AccessLog(log *slog.Logger, clk clock.Clock) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := clk.Now()
			rec := record(w)
			ri, r := withRouteInfo(r)
			completed := false
			defer func() {
				d := clk.Now().Sub(start)
				log.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String(logs.KeyMethod, methodLabel(r.Method)),
					slog.String(logs.KeyRoute, ri.label()),
					slog.Int(logs.KeyStatus, rec.statusFor(completed)),
					slog.Float64(logs.KeyDuration, float64(max(d, 0).Microseconds())/1000),
					slog.Int64(logs.KeyBytes, rec.bytes),
					slog.String(logs.KeyRequestID, RequestID(r.Context())))
			}()
			next.ServeHTTP(rec, r)
			completed = true
		})
	}
}
