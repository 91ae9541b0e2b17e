package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/logs"
)

// waitLimit bounds how long a test waits for an event before failing. Tests
// never wait for time to pass; they wait for something to happen.
const waitLimit = 10 * time.Second

var testCSRFKey = bytes.Repeat([]byte{0x42}, 32)

// logSink collects log output and lets a test wait for a line.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.buf.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return n, err
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *logSink) lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// waitFor returns the first log line matching pred, waiting for it to be
// written if need be.
func (s *logSink) waitFor(t testing.TB, what string, pred func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		for _, l := range s.lines(t) {
			if pred(l) {
				return l
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log line %s in:\n%s", what, s.String())
		}
	}
}

func accessLine(requestID string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == "request" && m[logs.KeyRequestID] == requestID }
}

// testEnv is a real portal, redirect and admin listener on 127.0.0.1.
type testEnv struct {
	srv      *Server
	certs    *Certificates
	bound    Bound
	logs     *logSink
	reg      *prometheus.Registry
	announce *bytes.Buffer
	client   *http.Client // HTTPS client trusting the server's certificate
	roots    *x509.CertPool
	base     string // https://127.0.0.1:PORT
	cancel   context.CancelFunc
	done     chan error
}

type envConfig struct {
	opts      func(*Options)
	listeners func(*Listeners)
	setup     func(*Server)
	checks    []Check
	certs     *Certificates
}

func startEnv(t *testing.T, cfg envConfig) *testEnv {
	t.Helper()
	e := &testEnv{logs: newLogSink(), reg: prometheus.NewRegistry(), announce: &bytes.Buffer{}}
	logger := logs.New(e.logs, slog.LevelDebug)
	opts := Options{
		Logger:       logger,
		Clock:        clock.Real{},
		Registry:     e.reg,
		CSRFKey:      testCSRFKey,
		PracticeName: "Riverside Urology",
		BodyLimit:    1024,
		Clinical:     fakeClinical{},
	}
	if cfg.opts != nil {
		cfg.opts(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.setup != nil {
		cfg.setup(srv)
	}
	e.srv = srv
	admin, err := NewAdmin(AdminOptions{Logger: logger, Registry: e.reg, Checks: cfg.checks, CheckTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.certs = cfg.certs
	if e.certs == nil {
		if e.certs, err = SelfSigned(t.TempDir(), clock.Real{}); err != nil {
			t.Fatal(err)
		}
	}
	ready := make(chan Bound, 1)
	l := Listeners{
		Addr:         "127.0.0.1:0",
		RedirectAddr: "127.0.0.1:0",
		AdminAddr:    "127.0.0.1:0",
		TLS:          e.certs.TLSConfig(),
		Logger:       logger,
		Announce:     e.announce,
		Ready:        func(b Bound) { ready <- b },
	}
	if cfg.listeners != nil {
		cfg.listeners(&l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- Run(ctx, l, srv.Handler(), admin) }()
	select {
	case e.bound = <-ready:
	case err := <-e.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("server did not become ready")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("Run did not return after cancel")
		}
	})
	e.roots = x509.NewCertPool()
	e.roots.AddCert(e.certs.Leaf())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots}}
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	e.base = "https://" + e.bound.Addr
	return e
}

// do sends a request and returns the response with its body read.
func (e *testEnv) do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return res, string(b)
}

func (e *testEnv) get(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	return e.do(t, newRequest(t, http.MethodGet, e.base+path, nil))
}

func newRequest(t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// testRoutes adds handlers that exercise the middleware.
func testRoutes(s *Server) {
	s.mux.Handle("GET /test/token", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.WriteString(w, CSRFToken(r))
		return err
	}))
	form := func(w http.ResponseWriter, r *http.Request) error {
		if err := r.ParseForm(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "done %d", len(r.PostForm))
		return err
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		s.mux.Handle(m+" /test/form", s.handle(form))
	}
	s.mux.Handle("POST /test/read", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "read %d", len(b))
		return err
	}))
	s.mux.Handle("POST /api/test/read", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.ReadAll(r.Body)
		return err
	}))
	s.mux.Handle("GET /test/panic", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Disposition", "attachment")
		panic("boom: secret panic detail")
	}))
	s.mux.Handle("GET /test/panic-late", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, "partial")
		http.NewResponseController(w).Flush()
		panic("late")
	}))
	faultHandler := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Disposition", "attachment; filename=x.pdf")
		for k := fault.Internal; k <= fault.TooLarge; k++ {
			if k.String() == r.PathValue("kind") {
				return fault.E(k, "Safe message for "+k.String()+".", errInternalDetail)
			}
		}
		if r.PathValue("kind") == "plain" {
			return errInternalDetail
		}
		return fmt.Errorf("unknown kind %q", r.PathValue("kind"))
	}
	s.mux.Handle("GET /test/fault/{kind}", s.handle(faultHandler))
	s.mux.Handle("GET /api/test/fault/{kind}", s.handle(faultHandler))
}

var errInternalDetail = fmt.Errorf("pq: password authentication failed for user uroportal at 10.0.0.5:5432")

// --- a small HTML checker: meaning, not bytes ---

type node struct {
	tag      string
	attrs    map[string]string
	children []*node
	text     string // text directly inside, for text nodes
}

// parseHTML parses the (well-formed) HTML the templates produce.
func parseHTML(t testing.TB, s string) *node {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	root := &node{tag: "#root"}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("parse HTML: %v\n%s", err, s)
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{tag: strings.ToLower(tok.Name.Local), attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			for i := len(stack) - 1; i > 0; i-- {
				if stack[i].tag == strings.ToLower(tok.Name.Local) {
					stack = stack[:i]
					break
				}
			}
		case xml.CharData:
			top.children = append(top.children, &node{tag: "#text", text: string(tok)})
		}
	}
	return root
}

// all returns the elements below n with tag whose attributes include attrs.
func (n *node) all(tag string, attrs ...string) []*node {
	var out []*node
	var walk func(*node)
	walk = func(c *node) {
		for _, k := range c.children {
			if k.tag == tag && hasAttrs(k, attrs) {
				out = append(out, k)
			}
			walk(k)
		}
	}
	walk(n)
	return out
}

func hasAttrs(n *node, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if v, ok := n.attrs[kv[i]]; !ok || v != kv[i+1] {
			return false
		}
	}
	return true
}

// one returns the only element matching, failing otherwise.
func (n *node) one(t testing.TB, tag string, attrs ...string) *node {
	t.Helper()
	got := n.all(tag, attrs...)
	if len(got) != 1 {
		t.Fatalf("want exactly one <%s %v>, found %d", tag, attrs, len(got))
	}
	return got[0]
}

// textContent is the element's text with whitespace collapsed.
func (n *node) textContent() string {
	var b strings.Builder
	var walk func(*node)
	walk = func(c *node) {
		if c.tag == "#text" {
			b.WriteString(c.text)
			b.WriteByte(' ')
		}
		for _, k := range c.children {
			walk(k)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
