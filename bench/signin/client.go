package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"uroportal/bench/internal/harness"
)

// clients makes HTTPS clients that trust only the server's self-signed
// certificate, each bound to its own loopback source address. The server
// keys its sign-in throttles by the client's address, and all of
// 127.0.0.0/8 is local, so a client bound to 127.0.1.7 is, to the server,
// a different address from one bound to 127.0.1.8.
type clients struct {
	roots *x509.CertPool
	base  string // https://host:port
	made  []*http.Transport
}

func newClients(dataDir, addr string) (*clients, error) {
	roots, err := harness.CertPool(dataDir)
	if err != nil {
		return nil, err
	}
	return &clients{roots: roots, base: "https://" + addr}, nil
}

// sourceAddr is the n-th address (from 0) of loopback block b: 127.0.b.1,
// 127.0.b.2, …, 127.0.b.254, then on into 127.(b+1)…, never .0 or .255.
func sourceAddr(b, n int) netip.Addr {
	host := n % 254
	b += n / 254
	return netip.AddrFrom4([4]byte{127, byte(b / 256), byte(b % 256), byte(host + 1)})
}

// client is an HTTP/1.1 keep-alive client from source address src with at
// most conns connections.
func (c *clients) client(src netip.Addr, conns int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 10 * time.Second}
	t := harness.Transport(c.roots, conns)
	t.DialContext = d.DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	c.made = append(c.made, t)
	return harness.Client(t)
}

// close drops every idle connection.
func (c *clients) close() {
	for _, t := range c.made {
		t.CloseIdleConnections()
	}
}

// reply is a response read to the end.
type reply struct {
	Status int
	Body   []byte
	Header http.Header
}

// do sends a request with an optional JSON body and bearer token and reads
// the whole response.
func do(ctx context.Context, hc *http.Client, method, url, token string, body any) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "uroportal-bench-signin")
	resp, err := hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return reply{Status: resp.StatusCode, Body: b, Header: resp.Header}, err
}

// short is a response body cut for an error message (never a token: the
// bodies quoted are error replies).
func short(b []byte) string {
	if len(b) > 160 {
		return string(b[:160]) + "…"
	}
	return string(b)
}
