package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"uroportal/internal/logs"
)

// Timeouts bound every server's connections. Zero fields take the defaults.
type Timeouts struct {
	ReadHeader time.Duration // default 10s: slow-loris protection
	Read       time.Duration // default 60s: whole request, body included
	Write      time.Duration // default 60s: from the end of the request headers to the end of the response
	Idle       time.Duration // default 120s: keep-alive
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, 10*time.Second)
	def(&t.Read, 60*time.Second)
	def(&t.Write, 60*time.Second)
	def(&t.Idle, 120*time.Second)
	return t
}

// Listeners says where and how Run serves.
type Listeners struct {
	// Addr is the HTTPS address of the portal, e.g. "127.0.0.1:8443".
	Addr string
	// RedirectAddr, if set, is a plain-HTTP address that only redirects to
	// the portal over HTTPS (301 for GET and HEAD, 308 otherwise).
	RedirectAddr string
	// AdminAddr, if set, serves the admin handler: plain HTTP when bound to
	// a loopback address, HTTPS with the portal's TLS config otherwise.
	AdminAddr string
	// TLS is the portal's TLS configuration (Certificates.TLSConfig).
	TLS *tls.Config
	// Logger receives lifecycle messages and net/http's own errors.
	Logger *slog.Logger
	// Announce receives "uroportal: listening on https://HOST:PORT" once
	// the portal accepts connections (os.Stderr in production).
	Announce io.Writer
	// Ready, if set, is called once with the bound addresses (useful with
	// port 0).
	Ready func(Bound)
	// OnShutdown, if set, is called when graceful shutdown begins, after
	// the listeners have closed, e.g. to tell long-lived handlers to finish.
	OnShutdown func()
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// once ctx is cancelled; default 30s. After it they are cut off.
	ShutdownTimeout time.Duration
	Timeouts        Timeouts
	// MaxHeaderBytes bounds request headers; default DefaultMaxHeaderBytes.
	MaxHeaderBytes int
}

// Bound reports the addresses Run actually listens on.
type Bound struct {
	Addr         string // HTTPS portal, host:port
	RedirectAddr string // "" if none
	AdminAddr    string // "" if none
	AdminTLS     bool   // whether the admin listener uses TLS
}

// ListenError is a listener that could not be opened. Its message is one
// line naming the address and the fix.
type ListenError struct {
	Listener string // "portal", "redirect" or "admin"
	Addr     string
	Err      error
}

func (e *ListenError) Error() string {
	flag := map[string]string{"portal": " with --addr", "admin": " with --admin-addr"}[e.Listener]
	var why string
	switch {
	case errors.Is(e.Err, syscall.EADDRINUSE):
		why = "the address is already in use; stop the program using it or choose another address" + flag
	case errors.Is(e.Err, syscall.EACCES):
		why = "permission denied; ports below 1024 need privileges: use a port of 1024 or more" + flag + ", or give the program the CAP_NET_BIND_SERVICE capability"
	case errors.Is(e.Err, syscall.EADDRNOTAVAIL):
		why = "that IP address does not belong to this machine; use one of its addresses, 127.0.0.1, or 0.0.0.0 for all" + flag
	default:
		why = fmt.Sprintf("%v; give the address as HOST:PORT, e.g. 127.0.0.1:8443%s", e.Err, flag)
	}
	return fmt.Sprintf("cannot listen on %s (%s): %s", e.Addr, e.Listener, why)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Run serves app over HTTPS on l.Addr, and optionally the redirect and admin
// listeners, until ctx is cancelled; then it stops accepting connections,
// lets in-flight requests finish (bounded by l.ShutdownTimeout) and returns
// nil. All listeners are opened before anything is served, so an address in
// use fails start-up with a *ListenError and nothing left open.
func Run(ctx context.Context, l Listeners, app, admin http.Handler) error {
	if l.Addr == "" || l.TLS == nil || l.Logger == nil || app == nil {
		return errors.New("web: Run needs Addr, TLS, Logger and an app handler")
	}
	if l.AdminAddr != "" && admin == nil {
		return errors.New("web: AdminAddr is set but there is no admin handler")
	}
	if l.ShutdownTimeout <= 0 {
		l.ShutdownTimeout = 30 * time.Second
	}

	type listener struct {
		name string
		ln   net.Listener
		srv  *http.Server
		tls  bool
	}
	var lns []*listener
	closeAll := func() {
		for _, x := range lns {
			x.ln.Close()
		}
	}
	listen := func(name, addr string) error {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		if err != nil {
			closeAll()
			return &ListenError{Listener: name, Addr: addr, Err: err}
		}
		lns = append(lns, &listener{name: name, ln: ln})
		return nil
	}
	if err := listen("portal", l.Addr); err != nil {
		return err
	}
	portal := lns[0]
	portal.srv, portal.tls = l.newServer("portal", app), true
	var bound Bound
	bound.Addr = portal.ln.Addr().String()
	if l.RedirectAddr != "" {
		if err := listen("redirect", l.RedirectAddr); err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(bound.Addr)
		x := lns[len(lns)-1]
		x.srv = l.newServer("redirect", redirectToHTTPS(port))
		bound.RedirectAddr = x.ln.Addr().String()
	}
	if l.AdminAddr != "" {
		if err := listen("admin", l.AdminAddr); err != nil {
			return err
		}
		x := lns[len(lns)-1]
		x.srv, x.tls = l.newServer("admin", admin), !isLoopback(x.ln.Addr())
		bound.AdminAddr, bound.AdminTLS = x.ln.Addr().String(), x.tls
	}
	if l.OnShutdown != nil {
		portal.srv.RegisterOnShutdown(l.OnShutdown)
	}

	served := make(chan error, len(lns))
	var wg sync.WaitGroup
	for _, x := range lns {
		wg.Go(func() {
			var err error
			if x.tls {
				x.srv.TLSConfig = l.TLS
				err = x.srv.ServeTLS(x.ln, "", "")
			} else {
				err = x.srv.Serve(x.ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				served <- fmt.Errorf("web: %s listener on %s stopped: %w", x.name, x.ln.Addr(), err)
			}
		})
	}
	if l.Announce != nil {
		fmt.Fprintf(l.Announce, "uroportal: listening on https://%s\n", bound.Addr)
	}
	l.Logger.Info("listening", slog.String(logs.KeyListener, "portal"), slog.String(logs.KeyAddr, bound.Addr))
	if bound.RedirectAddr != "" {
		l.Logger.Info("listening", slog.String(logs.KeyListener, "redirect"), slog.String(logs.KeyAddr, bound.RedirectAddr))
	}
	if bound.AdminAddr != "" {
		l.Logger.Info("listening", slog.String(logs.KeyListener, "admin"), slog.String(logs.KeyAddr, bound.AdminAddr), slog.Bool("tls", bound.AdminTLS))
	}
	if l.Ready != nil {
		l.Ready(bound)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-served:
	}
	l.Logger.Info("shutting down", slog.Duration("timeout", l.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.ShutdownTimeout)
	defer cancel()
	var swg sync.WaitGroup
	var cutOff sync.Once
	for _, x := range lns {
		swg.Go(func() {
			if err := x.srv.Shutdown(sctx); err != nil {
				x.srv.Close()
				cutOff.Do(func() {
					if runErr == nil {
						runErr = fmt.Errorf("web: shutdown: requests still running after %s were cut off", l.ShutdownTimeout)
					}
				})
			}
		})
	}
	swg.Wait()
	wg.Wait()
	return runErr
}

// newServer returns an http.Server with every limit set.
func (l Listeners) newServer(name string, h http.Handler) *http.Server {
	t := l.Timeouts.withDefaults()
	maxHeader := l.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    maxHeader,
		ErrorLog:          log.New(serverErrorLog{l.Logger, name}, "", 0),
	}
}

// serverErrorLog sends net/http's own messages to the logger. TLS handshake
// failures (scanners, old clients refused by the TLS policy) go to Debug.
type serverErrorLog struct {
	log      *slog.Logger
	listener string
}

func (s serverErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	s.log.LogAttrs(context.Background(), level, "http server", slog.String(logs.KeyListener, s.listener), slog.String(logs.KeyError, msg))
	return len(p), nil
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// redirectToHTTPS sends every request to the same host and path over HTTPS
// on httpsPort.
func redirectToHTTPS(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if !validHost(host) {
			http.Error(w, "Please use https:// to reach the patient portal.", http.StatusBadRequest)
			return
		}
		target := "https://" + net.JoinHostPort(host, httpsPort)
		if httpsPort == "443" {
			target = "https://" + host
			if strings.Contains(host, ":") {
				target = "https://[" + host + "]"
			}
		}
		code := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		w.Header().Set("Location", target+r.URL.RequestURI())
		w.WriteHeader(code)
	})
}

// validHost accepts host names and IP literals, nothing that could bend the
// redirect target (no '/', '@', '\\' or spaces).
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == ':':
		default:
			return false
		}
	}
	return true
}
