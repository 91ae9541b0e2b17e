package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"uroportal/internal/clock"
)

// Names of the self-signed certificate files in the data directory.
const (
	SelfSignedCertFile = "tls-cert.pem"
	SelfSignedKeyFile  = "tls-key.pem"
	selfSignedValidity = 365 * 24 * time.Hour
)

// Certificates holds the server certificate and swaps it atomically on
// Reload, so connections keep working while a renewed certificate is loaded.
type Certificates struct {
	certFile, keyFile string
	clock             clock.Clock
	cur               atomic.Pointer[tls.Certificate]
}

// OpenCertificates returns the certificates to serve. With certFile and
// keyFile set it loads them; with both empty it uses a self-signed
// certificate for localhost in dataDir, creating it on first start (and again
// once it has expired) and reusing it otherwise.
func OpenCertificates(dataDir, certFile, keyFile string, clk clock.Clock) (*Certificates, error) {
	switch {
	case certFile != "" && keyFile != "":
		return LoadCertificates(certFile, keyFile, clk)
	case certFile != "" || keyFile != "":
		return nil, errors.New("tls: --tls-cert and --tls-key go together; give both files, or neither for a self-signed certificate")
	}
	return SelfSigned(dataDir, clk)
}

// LoadCertificates loads a PEM certificate chain and its private key.
func LoadCertificates(certFile, keyFile string, clk clock.Clock) (*Certificates, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	c := &Certificates{certFile: certFile, keyFile: keyFile, clock: clk}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// SelfSigned returns a self-signed ECDSA P-256 certificate for localhost,
// 127.0.0.1 and ::1, kept in dataDir as tls-cert.pem and tls-key.pem (mode
// 0600). It is generated when neither file exists or the certificate has
// expired, and reused otherwise.
func SelfSigned(dataDir string, clk clock.Clock) (*Certificates, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: cannot create data directory %s: %w; check its parent exists and is writable", dataDir, err)
	}
	certFile := filepath.Join(dataDir, SelfSignedCertFile)
	keyFile := filepath.Join(dataDir, SelfSignedKeyFile)
	certExists, err := exists(certFile)
	if err != nil {
		return nil, err
	}
	keyExists, err := exists(keyFile)
	if err != nil {
		return nil, err
	}
	switch {
	case !certExists && !keyExists:
		if err := writeSelfSigned(certFile, keyFile, clk.Now()); err != nil {
			return nil, err
		}
	case certExists != keyExists:
		have, missing := certFile, keyFile
		if keyExists {
			have, missing = keyFile, certFile
		}
		return nil, fmt.Errorf("tls: found %s but not %s; delete %s to generate a new self-signed certificate, or pass --tls-cert and --tls-key", have, missing, have)
	default:
		info, err := os.Stat(keyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("tls: private key %s is readable by other users (mode %04o); run: chmod 600 %s", keyFile, info.Mode().Perm(), keyFile)
		}
	}
	c := &Certificates{certFile: certFile, keyFile: keyFile, clock: clk}
	err = c.load()
	if errors.Is(err, errExpired) {
		// Ours to renew: a self-signed certificate only lives a year.
		if err := writeSelfSigned(certFile, keyFile, clk.Now()); err != nil {
			return nil, err
		}
		err = c.load()
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

var errExpired = errors.New("certificate expired")

// Reload re-reads the certificate and key files. On any error the current
// certificate stays in use and the error says which file to fix. Open
// connections are unaffected; new handshakes get the new certificate.
func (c *Certificates) Reload() error {
	if err := c.load(); err != nil {
		return fmt.Errorf("%w (still serving the previous certificate)", err)
	}
	return nil
}

// Files returns the paths of the certificate and key in use.
func (c *Certificates) Files() (certFile, keyFile string) { return c.certFile, c.keyFile }

// Leaf returns the parsed certificate currently served.
func (c *Certificates) Leaf() *x509.Certificate { return c.cur.Load().Leaf }

func (c *Certificates) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: cannot use certificate %s with key %s: %w; both must be PEM files and the key must belong to the certificate", c.certFile, c.keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("tls: certificate %s: %w", c.certFile, err)
		}
		cert.Leaf = leaf
	}
	if now := c.clock.Now(); now.After(leaf.NotAfter) {
		return fmt.Errorf("tls: certificate %s expired on %s; renew it and reload: %w", c.certFile, leaf.NotAfter.UTC().Format(time.DateOnly), errExpired)
	}
	c.cur.Store(&cert)
	return nil
}

// TLSConfig returns the server TLS configuration: TLS 1.2 or newer; for
// TLS 1.2 only ECDHE key exchange with AEAD ciphers (AES-GCM,
// ChaCha20-Poly1305); TLS 1.3 as Go provides it. The certificate comes from
// c on every handshake, so Reload takes effect without a restart.
func (c *Certificates) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("tls: %w", err)
}

// writeSelfSigned creates a key and a certificate valid from now for a year
// and writes them, each through a temporary file and a rename.
func writeSelfSigned(certFile, keyFile string, now time.Time) error {
	certPEM, keyPEM, err := newSelfSigned(now)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, certPEM, 0o644)
}

func newSelfSigned(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tls: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"Uroportal self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("tls: cannot write %s: %w; check the directory is writable", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("tls: chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("tls: cannot write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tls: cannot write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tls: cannot write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tls: cannot write %s: %w", path, err)
	}
	return nil
}
