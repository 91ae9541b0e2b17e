package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"uroportal/internal/clock"
	"uroportal/internal/logs"
)

func TestAnnounce(t *testing.T) {
	e := startEnv(t, envConfig{})
	want := "uroportal: listening on https://" + e.bound.Addr + "\n"
	if got := e.announce.String(); got != want {
		t.Errorf("announce = %q, want %q", got, want)
	}
	if !strings.HasPrefix(e.bound.Addr, "127.0.0.1:") || strings.HasSuffix(e.bound.Addr, ":0") {
		t.Errorf("bound address %q is not the real port", e.bound.Addr)
	}
	if e.bound.AdminTLS {
		t.Error("admin listener on loopback should be plain HTTP")
	}
	res, body := e.get(t, "/")
	if res.StatusCode != http.StatusOK || res.TLS == nil {
		t.Errorf("GET / over HTTPS: status %d, TLS %v: %s", res.StatusCode, res.TLS != nil, body)
	}
	// HTTP/2 works with the restricted TLS 1.2 suites too.
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: e.roots, MaxVersion: v}}
		res, _ := (&testEnv{client: &http.Client{Transport: tr}}).do(t, newRequest(t, "GET", e.base+"/", nil))
		tr.CloseIdleConnections()
		if res.ProtoMajor != 2 || res.StatusCode != http.StatusOK {
			t.Errorf("%s: %s %d, want HTTP/2 200", tls.VersionName(v), res.Proto, res.StatusCode)
		}
		checkSecurityHeaders(t, res.Header)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()
	certs, err := SelfSigned(t.TempDir(), clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		portal    string
		admin     string
		wantParts []string
	}{
		{"portal", busyAddr, "", []string{busyAddr, "(portal)", "already in use", "--addr"}},
		{"admin", freeAddr(t), busyAddr, []string{busyAddr, "(admin)", "already in use", "--admin-addr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var announce bytes.Buffer
			l := Listeners{Addr: tt.portal, AdminAddr: tt.admin, TLS: certs.TLSConfig(),
				Logger: logs.New(io.Discard, slog.LevelInfo), Announce: &announce,
				Ready: func(Bound) { t.Error("Ready called although a listener failed") }}
			err := Run(context.Background(), l, http.NotFoundHandler(), http.NotFoundHandler())
			var le *ListenError
			if !errors.As(err, &le) || !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("Run = %v, want a ListenError for EADDRINUSE", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range tt.wantParts {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if announce.Len() != 0 {
				t.Errorf("announced %q although start-up failed", announce.String())
			}
			// Listeners opened before the failure are closed again.
			if tt.portal != busyAddr {
				ln, err := net.Listen("tcp", tt.portal)
				if err != nil {
					t.Fatalf("portal address still held after failed start: %v", err)
				}
				ln.Close()
			}
		})
	}
}

func TestRedirectToHTTPS(t *testing.T) {
	e := startEnv(t, envConfig{})
	_, port, _ := net.SplitHostPort(e.bound.Addr)
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		method, host, path string
		status             int
		location           string
	}{
		{"GET", "", "/labs?code=PSA", http.StatusMovedPermanently, "https://127.0.0.1:" + port + "/labs?code=PSA"},
		{"HEAD", "portal.example.org", "/", http.StatusMovedPermanently, "https://portal.example.org:" + port + "/"},
		{"POST", "portal.example.org:8080", "/login", http.StatusPermanentRedirect, "https://portal.example.org:" + port + "/login"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := newRequest(t, tt.method, "http://"+e.bound.RedirectAddr+tt.path, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			res, err := plain.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status || res.Header.Get("Location") != tt.location {
				t.Errorf("got %d Location %q, want %d %q", res.StatusCode, res.Header.Get("Location"), tt.status, tt.location)
			}
		})
	}
	// The redirect listener serves nothing else.
	res, err := plain.Get("http://" + e.bound.RedirectAddr + "/static/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently {
		t.Errorf("redirect listener answered %d", res.StatusCode)
	}
}

func TestRedirectHosts(t *testing.T) {
	h := redirectToHTTPS("443")
	tests := []struct {
		host     string
		status   int
		location string
	}{
		{"portal.example.org", http.StatusMovedPermanently, "https://portal.example.org/a?b=c"},
		{"[::1]:80", http.StatusMovedPermanently, "https://[::1]/a?b=c"},
		{"evil.example/@x", http.StatusBadRequest, ""},
		{"a\\b", http.StatusBadRequest, ""},
		{"", http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://x/a?b=c", nil)
			req.Host = tt.host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.status || w.Header().Get("Location") != tt.location {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Header().Get("Location"), tt.status, tt.location)
			}
		})
	}
}

// Every server (portal, redirect, admin) refuses oversized headers, which
// shows each got MaxHeaderBytes; the timeouts are set by the same newServer.
func TestHeaderLimitOnEveryServer(t *testing.T) {
	e := startEnv(t, envConfig{})
	plain := &http.Client{}
	big := strings.Repeat("a", DefaultMaxHeaderBytes+8<<10) // over the limit and net/http's 4 KiB slack
	for _, tt := range []struct {
		name   string
		client *http.Client
		url    string
	}{
		{"portal", e.client, e.base + "/"},
		{"redirect", plain, "http://" + e.bound.RedirectAddr + "/"},
		{"admin", plain, "http://" + e.bound.AdminAddr + "/healthz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, "GET", tt.url, nil)
			req.Header.Set("X-Big", big)
			res, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("status %d, want 431", res.StatusCode)
			}
		})
	}
}

func TestNewServerSetsLimits(t *testing.T) {
	s := Listeners{Logger: logs.New(io.Discard, slog.LevelInfo)}.newServer("x", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("limits not all set: %+v", s)
	}
	custom := Listeners{Logger: logs.New(io.Discard, slog.LevelInfo), MaxHeaderBytes: 8192,
		Timeouts: Timeouts{ReadHeader: time.Second, Read: 2 * time.Second, Write: 3 * time.Second, Idle: 4 * time.Second}}.newServer("x", http.NotFoundHandler())
	if custom.ReadHeaderTimeout != time.Second || custom.ReadTimeout != 2*time.Second || custom.WriteTimeout != 3*time.Second ||
		custom.IdleTimeout != 4*time.Second || custom.MaxHeaderBytes != 8192 {
		t.Errorf("custom limits not applied: %+v", custom)
	}
}

func TestGracefulShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	shutdownBegan := make(chan struct{})
	e := startEnv(t, envConfig{
		setup: func(s *Server) {
			s.mux.HandleFunc("GET /test/slow", func(w http.ResponseWriter, r *http.Request) {
				close(started)
				<-release
				io.WriteString(w, "finished")
			})
		},
		listeners: func(l *Listeners) { l.OnShutdown = func() { close(shutdownBegan) } },
	})
	type result struct {
		res  *http.Response
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		res, err := e.client.Get(e.base + "/test/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		got <- result{res, string(b), err}
	}()
	<-started
	e.cancel()
	select {
	case <-shutdownBegan:
	case <-time.After(waitLimit):
		t.Fatal("shutdown did not begin")
	}
	if c, err := net.Dial("tcp", e.bound.Addr); err == nil {
		c.Close()
		t.Error("portal still accepts connections during shutdown")
	}
	select {
	case err := <-e.done:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.res.StatusCode != http.StatusOK || r.body != "finished" {
		t.Fatalf("in-flight request: %v %v %q", r.err, r.res, r.body)
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
		e.done <- nil // for the cleanup
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after the last request finished")
	}
}

func TestIsLoopback(t *testing.T) {
	for _, tt := range []struct {
		ip   string
		want bool
	}{{"127.0.0.1", true}, {"::1", true}, {"0.0.0.0", false}, {"10.1.2.3", false}, {"::", false}} {
		if got := isLoopback(&net.TCPAddr{IP: net.ParseIP(tt.ip)}); got != tt.want {
			t.Errorf("isLoopback(%s) = %v", tt.ip, got)
		}
	}
}
