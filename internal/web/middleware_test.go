package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var wantSecurityHeaders = map[string]string{
	"Strict-Transport-Security":    "max-age=63072000; includeSubDomains",
	"Content-Security-Policy":      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"X-Frame-Options":              "DENY",
}

func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, v := range wantSecurityHeaders {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP allows unsafe sources: %s", csp)
	}
}

func staticURL(t *testing.T, e *testEnv, name string) string {
	t.Helper()
	u, err := e.srv.static.URL(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := startEnv(t, envConfig{setup: testRoutes})
	css := staticURL(t, e, "app.css")
	admin := "http://" + e.bound.AdminAddr
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		cache  string
	}{
		{"home", func() *http.Request { return newRequest(t, "GET", e.base+"/", nil) }, 200, "no-store"},
		{"HEAD home", func() *http.Request { return newRequest(t, "HEAD", e.base+"/", nil) }, 200, "no-store"},
		{"not found", func() *http.Request { return newRequest(t, "GET", e.base+"/no/such/page", nil) }, 404, "no-store"},
		{"API not found", func() *http.Request { return newRequest(t, "GET", e.base+"/api/v1/nothing", nil) }, 404, "no-store"},
		{"handler error", func() *http.Request { return newRequest(t, "GET", e.base+"/test/fault/conflict", nil) }, 409, "no-store"},
		{"panic", func() *http.Request { return newRequest(t, "GET", e.base+"/test/panic", nil) }, 500, "no-store"},
		{"static", func() *http.Request { return newRequest(t, "GET", e.base+css, nil) }, 200, "public, max-age=31536000, immutable"},
		{"unknown static", func() *http.Request { return newRequest(t, "GET", e.base+"/static/app.css", nil) }, 404, "no-store"},
		{"CSRF refusal", func() *http.Request { return newRequest(t, "POST", e.base+"/test/form", nil) }, 403, "no-store"},
		{"too large", func() *http.Request {
			r := newRequest(t, "POST", e.base+"/test/read", strings.NewReader(strings.Repeat("x", 4096)))
			r.Header.Set("Authorization", "Bearer t")
			return r
		}, 413, "no-store"},
		{"admin healthz", func() *http.Request { return newRequest(t, "GET", admin+"/healthz", nil) }, 200, "no-store"},
		{"admin readyz", func() *http.Request { return newRequest(t, "GET", admin+"/readyz", nil) }, 200, "no-store"},
		{"admin metrics", func() *http.Request { return newRequest(t, "GET", admin+"/metrics", nil) }, 200, "no-store"},
		{"admin not found", func() *http.Request { return newRequest(t, "GET", admin+"/nope", nil) }, 404, "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := e.do(t, tt.req())
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			checkSecurityHeaders(t, res.Header)
			if got := res.Header.Values("Cache-Control"); len(got) != 1 || got[0] != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.cache)
			}
			if res.Header.Get("Content-Disposition") != "" {
				t.Errorf("error response kept the handler's Content-Disposition")
			}
		})
	}
}

// csrfSession is a browser: it has fetched a page, so it has the CSRF
// cookie, and knows the token the page would carry.
func csrfSession(t *testing.T, e *testEnv) (cookie *http.Cookie, token string) {
	t.Helper()
	res, body := e.get(t, "/test/token")
	for _, c := range res.Cookies() {
		if c.Name == CSRFCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("GET did not set %s; cookies: %v", CSRFCookie, res.Cookies())
	}
	if !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Domain != "" {
		t.Errorf("CSRF cookie attributes wrong: %+v", cookie)
	}
	if body == "" {
		t.Fatal("CSRFToken(r) is empty on a GET")
	}
	return cookie, body
}

func TestCSRF(t *testing.T) {
	e := startEnv(t, envConfig{setup: testRoutes, opts: func(o *Options) {
		o.CSRFBinding = func(r *http.Request) string { return r.Header.Get("X-Test-Session") }
	}})
	cookie, token := csrfSession(t, e)
	otherCookie, otherToken := csrfSession(t, e)
	if otherToken == token || otherCookie.Value == cookie.Value {
		t.Fatal("two browsers got the same CSRF cookie or token")
	}
	// A page for a signed-in session carries a session-bound token.
	sessReq := newRequest(t, "GET", e.base+"/test/token", nil)
	sessReq.Header.Set("X-Test-Session", "session-hash-A")
	_, sessionToken := e.do(t, sessReq)
	if sessionToken == "" || sessionToken == token {
		t.Fatalf("session-bound token %q not distinct from cookie token", sessionToken)
	}

	form := func(tok string) io.Reader {
		return strings.NewReader(url.Values{CSRFFormField: {tok}, "x": {"1"}}.Encode())
	}
	tests := []struct {
		name   string
		method string
		body   io.Reader
		header map[string]string
		cookie *http.Cookie
		want   int
	}{
		{"POST without token", "POST", nil, nil, cookie, 403},
		{"POST with form token", "POST", form(token), nil, cookie, 200},
		{"POST with header token", "POST", nil, map[string]string{CSRFHeader: token}, cookie, 200},
		{"PUT without token", "PUT", nil, nil, cookie, 403},
		{"PATCH without token", "PATCH", nil, nil, cookie, 403},
		{"DELETE without token", "DELETE", nil, nil, cookie, 403},
		{"DELETE with header token", "DELETE", nil, map[string]string{CSRFHeader: token}, cookie, 200},
		{"wrong token", "POST", form(token[:len(token)-2] + "AA"), nil, cookie, 403},
		{"another browser's token", "POST", form(otherToken), nil, cookie, 403},
		{"token without its cookie", "POST", form(token), nil, nil, 403},
		{"token in the URL only", "POST", nil, nil, cookie, 403},
		{"cross-site POST with valid token", "POST", form(token), map[string]string{"Sec-Fetch-Site": "cross-site"}, cookie, 403},
		{"cross-origin Origin with valid token", "POST", form(token), map[string]string{"Origin": "https://evil.example"}, cookie, 403},
		{"same-origin POST with token", "POST", form(token), map[string]string{"Sec-Fetch-Site": "same-origin"}, cookie, 200},
		{"session token in session", "POST", form(sessionToken), map[string]string{"X-Test-Session": "session-hash-A"}, cookie, 200},
		{"session token in another session", "POST", form(sessionToken), map[string]string{"X-Test-Session": "session-hash-B"}, cookie, 403},
		{"cookie token once signed in", "POST", form(token), map[string]string{"X-Test-Session": "session-hash-A"}, cookie, 403},
		{"bearer API client without cookies", "POST", nil, map[string]string{"Authorization": "Bearer abc"}, nil, 200},
		{"bearer with a cookie needs the token", "POST", nil, map[string]string{"Authorization": "Bearer abc"}, cookie, 403},
		{"bearer still cross-origin checked", "POST", nil, map[string]string{"Authorization": "Bearer abc", "Sec-Fetch-Site": "cross-site"}, nil, 403},
		{"basic auth is not exempt", "POST", nil, map[string]string{"Authorization": "Basic YTpi"}, nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := e.base + "/test/form"
			if tt.name == "token in the URL only" {
				target += "?" + CSRFFormField + "=" + url.QueryEscape(token)
			}
			req := newRequest(t, tt.method, target, tt.body)
			if tt.body != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.cookie != nil {
				req.AddCookie(&http.Cookie{Name: tt.cookie.Name, Value: tt.cookie.Value})
			}
			res, body := e.do(t, req)
			if res.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.want, body)
			}
			if tt.want == 403 && !strings.Contains(body, "reload the page") {
				t.Errorf("403 without the safe message: %s", body)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	e := startEnv(t, envConfig{setup: testRoutes}) // limit 1024
	cookie, token := csrfSession(t, e)
	big := strings.Repeat("x", 4096)
	// chunked hides the length, so the limit is hit while reading.
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }
	tests := []struct {
		name     string
		path     string
		body     io.Reader
		formTok  bool // send the token in the body rather than the header
		want     int
		wantJSON bool
	}{
		{"small body", "/test/read", strings.NewReader("hello"), false, 200, false},
		{"declared length over limit", "/test/read", strings.NewReader(big), false, 413, false},
		{"chunked over limit, read by handler", "/test/read", chunked(big), false, 413, false},
		{"form over limit, read by CSRF check", "/test/form", chunked(url.Values{CSRFFormField: {token}, "note": {big}}.Encode()), true, 413, false},
		{"API over limit", "/api/test/read", chunked(big), false, 413, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, "POST", e.base+tt.path, tt.body)
			req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
			if tt.formTok {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				req.Header.Set(CSRFHeader, token)
			}
			res, body := e.do(t, req)
			if res.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.want, body)
			}
			if tt.want != 413 {
				return
			}
			if tt.wantJSON {
				var v struct{ Error, Message string }
				if err := json.Unmarshal([]byte(body), &v); err != nil || v.Error != "too_large" || !strings.Contains(v.Message, "1 KB") {
					t.Errorf("JSON 413 body %q (%v)", body, err)
				}
			} else if !strings.Contains(body, "too large") || !strings.Contains(body, "1 KB") {
				t.Errorf("413 page does not explain the limit: %s", body)
			}
		})
	}
}

func TestPanicBecomes500(t *testing.T) {
	e := startEnv(t, envConfig{setup: testRoutes})
	res, body := e.get(t, "/test/panic")
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, leak := range []string{"boom", "secret panic detail", "goroutine", "panic", ".go:"} {
		if strings.Contains(body, leak) {
			t.Errorf("500 page leaks %q:\n%s", leak, body)
		}
	}
	id := res.Header.Get(HeaderRequestID)
	doc := parseHTML(t, body)
	if h1 := doc.one(t, "h1").textContent(); h1 != "Something went wrong" {
		t.Errorf("h1 = %q", h1)
	}
	if !strings.Contains(doc.one(t, "main").textContent(), id) {
		t.Errorf("500 page does not show the reference %s", id)
	}
	logged := e.logs.waitFor(t, "for the panic", func(m map[string]any) bool {
		return m["msg"] == "panic serving request" && m["request_id"] == id
	})
	if !strings.Contains(logged["stack"].(string), "goroutine") || logged["panic"] != "boom: secret panic detail" {
		t.Errorf("panic log line lacks the detail: %v", logged)
	}
	access := e.logs.waitFor(t, "access for the panic", accessLine(id))
	if access["status"] != float64(500) || access["route"] != "GET /test/panic" {
		t.Errorf("access log for panic: %v", access)
	}

	// A panic after the response started aborts it rather than pretending
	// it is complete.
	res2, err := e.client.Get(e.base + "/test/panic-late")
	if err == nil {
		_, err = io.ReadAll(res2.Body)
		res2.Body.Close()
	}
	if err == nil {
		t.Error("a response cut short by a panic was delivered as complete")
	}
	// The server is still serving.
	if res, _ := e.get(t, "/"); res.StatusCode != 200 {
		t.Errorf("after panics GET / = %d", res.StatusCode)
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestIDsAndAccessLog(t *testing.T) {
	e := startEnv(t, envConfig{setup: testRoutes})
	css := staticURL(t, e, "app.css")
	requests := []struct {
		path  string
		route string
	}{
		{"/?mrn=MRN-4829&name=Alice+Quisling", "GET /{$}"},
		{css + "?token=tok-SECRET-123", "GET /static/{file}"},
		{"/patients/MRN-4829/results?dob=1957-03-14", "GET /patients/{patientID}/results"},
		{"/nowhere/MRN-4829?dob=1957-03-14", "/"},
		{"/test/fault/invalid?email=alice.q%40example.org", "GET /test/fault/{kind}"},
	}
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		for _, rq := range requests {
			req := newRequest(t, "GET", e.base+rq.path, nil)
			req.Header.Set(HeaderRequestID, "attacker-chosen-id")
			res, _ := e.do(t, req)
			id := res.Header.Get(HeaderRequestID)
			if !hexID.MatchString(id) {
				t.Fatalf("request ID %q is not 128-bit hex", id)
			}
			if seen[id] {
				t.Fatalf("request ID %s repeated", id)
			}
			seen[id] = true
			line := e.logs.waitFor(t, "for request "+id, accessLine(id))
			if line["route"] != rq.route || line["method"] != "GET" || line["status"] != float64(res.StatusCode) {
				t.Errorf("access line %v, want route %q status %d", line, rq.route, res.StatusCode)
			}
			for _, k := range []string{"duration_ms", "bytes"} {
				if _, ok := line[k]; !ok {
					t.Errorf("access line lacks %s: %v", k, line)
				}
			}
			for k := range line {
				switch k {
				case "time", "level", "msg", "method", "route", "status", "duration_ms", "bytes", "request_id":
				default: // e.g. the client's address, the path, a user agent
					t.Errorf("access line has unexpected field %q: %v", k, line)
				}
			}
		}
	}
	all := e.logs.String()
	for _, leak := range []string{"?", "MRN-4829", "Alice", "Quisling", "SECRET", "1957-03-14", "alice.q", "attacker-chosen-id", "/nowhere/"} {
		if strings.Contains(all, leak) {
			t.Errorf("log contains %q:\n%s", leak, all)
		}
	}
}
