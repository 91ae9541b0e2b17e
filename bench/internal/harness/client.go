package harness

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"uroportal/internal/web"
)

// CertPool holds only the self-signed certificate the server made in its
// data directory dir.
func CertPool(dir string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(filepath.Join(dir, web.SelfSignedCertFile))
	if err != nil {
		return nil, fmt.Errorf("the server's certificate: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", web.SelfSignedCertFile)
	}
	return roots, nil
}

// Transport is an HTTP/1.1 keep-alive transport with at most conns
// connections, trusting only roots, that asks for no compression.
func Transport(roots *x509.CertPool, conns int) *http.Transport {
	var protos http.Protocols
	protos.SetHTTP1(true)
	return &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Protocols:           &protos,
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
	}
}

// Client is a client over t that gives up on a request after 30 s and does
// not follow redirects.
func Client(t http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: t,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CountRows counts the rows of the results table's body, -1 if there is no
// table body.
func CountRows(page []byte) int {
	i := bytes.Index(page, []byte("<tbody>"))
	j := bytes.Index(page, []byte("</tbody>"))
	if i < 0 || j < i {
		return -1
	}
	return bytes.Count(page[i:j], []byte("<tr"))
}
