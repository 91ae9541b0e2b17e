package web

import "net/http"

// ContentSecurityPolicy allows only same-origin scripts, styles, fonts and
// images (plus data: images): no inline script or style, no eval.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders is the set every response carries.
var securityHeaders = [...][2]string{
	{"Strict-Transport-Security", "max-age=63072000; includeSubDomains"},
	{"Content-Security-Policy", ContentSecurityPolicy},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"X-Frame-Options", "DENY"},
	// Pages carry PHI: nothing is cached unless a handler says otherwise
	// (only content-hashed static files do).
	{"Cache-Control", "no-store"},
}

// SecurityHeaders sets the security headers and Cache-Control: no-store on
// every response before the handler runs; a handler may override
// Cache-Control for immutable static files only.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

func setSecurityHeaders(h http.Header) {
	for _, kv := range securityHeaders {
		h.Set(kv[0], kv[1])
	}
}
