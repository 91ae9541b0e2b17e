package web

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"uroportal/internal/clock"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestSelfSignedGeneratedOnceAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	clk := clock.NewFake(t0)
	c1, err := SelfSigned(dir, clk)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, SelfSignedCertFile), filepath.Join(dir, SelfSignedKeyFile)
	info, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", got)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v (err %v), want 0700", info.Mode().Perm(), err)
	}
	leaf := c1.Leaf()
	if leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm = %v, want ECDSA", leaf.PublicKeyAlgorithm)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("certificate does not cover %s: %v", host, err)
		}
	}
	if got := leaf.NotAfter.Sub(t0); got < 364*24*time.Hour || got > 366*24*time.Hour {
		t.Errorf("validity = %v, want about a year", got)
	}
	certPEM, _ := os.ReadFile(certFile)
	keyPEM, _ := os.ReadFile(keyFile)

	clk.Advance(200 * 24 * time.Hour)
	c2, err := SelfSigned(dir, clk)
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Leaf().Equal(leaf) {
		t.Error("second start generated a new certificate instead of reusing the first")
	}
	if b, _ := os.ReadFile(certFile); !bytes.Equal(b, certPEM) {
		t.Error("certificate file changed on reuse")
	}
	if b, _ := os.ReadFile(keyFile); !bytes.Equal(b, keyPEM) {
		t.Error("key file changed on reuse")
	}

	// Once expired, the self-signed certificate is ours to renew.
	clk.Advance(200 * 24 * time.Hour)
	c3, err := SelfSigned(dir, clk)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Leaf().Equal(leaf) || !c3.Leaf().NotAfter.After(clk.Now()) {
		t.Errorf("expired self-signed certificate was not renewed (NotAfter %v, now %v)", c3.Leaf().NotAfter, clk.Now())
	}
}

func TestSelfSignedRefusesBadState(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(dir string)
		want    []string
	}{
		{"key without certificate", func(dir string) {
			os.Remove(filepath.Join(dir, SelfSignedCertFile))
		}, []string{SelfSignedKeyFile, SelfSignedCertFile, "delete"}},
		{"certificate without key", func(dir string) {
			os.Remove(filepath.Join(dir, SelfSignedKeyFile))
		}, []string{SelfSignedKeyFile, SelfSignedCertFile, "delete"}},
		{"key readable by others", func(dir string) {
			os.Chmod(filepath.Join(dir, SelfSignedKeyFile), 0o644)
		}, []string{SelfSignedKeyFile, "chmod 600"}},
		{"corrupt certificate", func(dir string) {
			os.WriteFile(filepath.Join(dir, SelfSignedCertFile), []byte("not a certificate"), 0o644)
		}, []string{SelfSignedCertFile, "PEM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := SelfSigned(dir, clock.NewFake(t0)); err != nil {
				t.Fatal(err)
			}
			tt.prepare(dir)
			_, err := SelfSigned(dir, clock.NewFake(t0))
			if err == nil {
				t.Fatal("SelfSigned succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// writePair writes a new self-signed certificate and key valid from now.
func writePair(t *testing.T, certFile, keyFile string, now time.Time) {
	t.Helper()
	if err := writeSelfSigned(certFile, keyFile, now); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCertificatesErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, cert, key, t0)
	otherCert, otherKey := filepath.Join(dir, "c2.pem"), filepath.Join(dir, "k2.pem")
	writePair(t, otherCert, otherKey, t0)
	tests := []struct {
		name      string
		cert, key string
		now       time.Time
		want      []string
	}{
		{"missing certificate", filepath.Join(dir, "nope.pem"), key, t0, []string{"nope.pem"}},
		{"mismatched key", cert, otherKey, t0, []string{"c.pem", "k2.pem", "key must belong"}},
		{"expired", cert, key, t0.Add(400 * 24 * time.Hour), []string{"c.pem", "expired", "renew"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCertificates(tt.cert, tt.key, clock.NewFake(tt.now))
			if err == nil {
				t.Fatal("LoadCertificates succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := OpenCertificates(dir, cert, "", nil); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Errorf("OpenCertificates with only a certificate: %v", err)
	}
	if c, err := OpenCertificates(dir, cert, key, clock.NewFake(t0)); err != nil || c.Leaf() == nil {
		t.Errorf("OpenCertificates with both files: %v", err)
	}
}

// handshake dials addr with cfg and reports the negotiated state.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: waitLimit}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

func TestTLSPolicy(t *testing.T) {
	e := startEnv(t, envConfig{})
	tests := []struct {
		name    string
		version uint16 // min = max; 0 for Go's defaults
		suites  []uint16
		ok      bool
	}{
		{"TLS 1.0 refused", tls.VersionTLS10, nil, false},
		{"TLS 1.1 refused", tls.VersionTLS11, nil, false},
		{"TLS 1.2 AES-128-CBC-SHA refused", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, false},
		{"TLS 1.2 AES-256-CBC-SHA refused", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}, false},
		{"TLS 1.2 AES-128-CBC-SHA256 refused", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}, false},
		{"TLS 1.2 ECDHE AES-128-GCM", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		{"TLS 1.2 ECDHE AES-256-GCM", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, true},
		{"TLS 1.2 ECDHE ChaCha20-Poly1305", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, true},
		{"TLS 1.3", tls.VersionTLS13, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: e.roots, MinVersion: tt.version, MaxVersion: tt.version, CipherSuites: tt.suites}
			// Control: a server that allows everything completes this
			// handshake, so a refusal below comes from our policy.
			if !tt.ok {
				if err := pipeHandshake(t, e.certs, cfg); err != nil {
					t.Fatalf("control handshake with a permissive server failed, so the test proves nothing: %v", err)
				}
			}
			state, err := handshake(e.bound.Addr, cfg)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("handshake refused: %v", err)
			case !tt.ok && err == nil:
				t.Fatalf("handshake succeeded with %s %s", tls.VersionName(state.Version), tls.CipherSuiteName(state.CipherSuite))
			case !tt.ok:
				t.Logf("refused as expected: %v", err)
			case state.Version != tt.version:
				t.Errorf("negotiated %s, want %s", tls.VersionName(state.Version), tls.VersionName(tt.version))
			case tt.suites != nil && state.CipherSuite != tt.suites[0]:
				t.Errorf("negotiated %s", tls.CipherSuiteName(state.CipherSuite))
			}
		})
	}
	// The TLS 1.2 suites offered are all ECDHE with an AEAD.
	for _, id := range e.certs.TLSConfig().CipherSuites {
		name := tls.CipherSuiteName(id)
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
			t.Errorf("TLS 1.2 suite %s is not ECDHE+AEAD", name)
		}
	}
}

// pipeHandshake runs cfg against a server that accepts TLS 1.0 and up with
// every suite Go implements.
func pipeHandshake(t *testing.T, certs *Certificates, cfg *tls.Config) error {
	t.Helper()
	var all []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		all = append(all, s.ID)
	}
	cli, srv := net.Pipe()
	defer cli.Close()
	server := tls.Server(srv, &tls.Config{
		MinVersion:     tls.VersionTLS10,
		CipherSuites:   all,
		GetCertificate: certs.TLSConfig().GetCertificate,
	})
	done := make(chan error, 1)
	go func() { done <- server.Handshake(); srv.Close() }()
	c := cfg.Clone()
	c.ServerName = "127.0.0.1"
	err := tls.Client(cli, c).Handshake()
	cli.Close()
	<-done
	return err
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	now := time.Now()
	writePair(t, certFile, keyFile, now)
	certs, err := LoadCertificates(certFile, keyFile, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	oldLeaf := certs.Leaf()
	e := startEnv(t, envConfig{certs: certs})

	// Both the old and the new certificate are trusted by the client.
	roots := x509.NewCertPool()
	roots.AddCert(oldLeaf)
	cfg := &tls.Config{RootCAs: roots}

	conn, err := tls.Dial("tcp", e.bound.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if !conn.ConnectionState().PeerCertificates[0].Equal(oldLeaf) {
		t.Fatal("first connection did not get the original certificate")
	}
	br := bufio.NewReader(conn)
	get := func(step string) {
		t.Helper()
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: request on the open connection: %v", step, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", step, res.StatusCode)
		}
	}
	get("before reload")

	writePair(t, certFile, keyFile, now)
	if err := certs.Reload(); err != nil {
		t.Fatal(err)
	}
	newLeaf := certs.Leaf()
	if newLeaf.Equal(oldLeaf) {
		t.Fatal("Reload did not load the new certificate")
	}
	roots.AddCert(newLeaf)

	get("after reload") // the open connection keeps working
	if !conn.ConnectionState().PeerCertificates[0].Equal(oldLeaf) {
		t.Error("open connection changed certificate")
	}
	state, err := handshake(e.bound.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !state.PeerCertificates[0].Equal(newLeaf) {
		t.Error("new connection did not get the reloaded certificate")
	}

	// A broken file on reload keeps the current certificate.
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = certs.Reload()
	if err == nil {
		t.Fatal("Reload accepted a broken certificate file")
	}
	for _, w := range []string{certFile, "previous certificate"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("reload error %q does not mention %q", err, w)
		}
	}
	state, err = handshake(e.bound.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !state.PeerCertificates[0].Equal(newLeaf) {
		t.Error("a failed reload changed the served certificate")
	}
	get("after failed reload")
}
