package audit_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"uroportal/internal/audit"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

func seqsIn(t *testing.T, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct{ Seq int64 }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Seq)
	}
	return out
}

// Across restarts and a crash between writing and moving the cursor, every
// event reaches the JSON lines file exactly once, in order.
func TestJSONLinesExactlyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(t, db)
		fill(t, l)
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		sh := &audit.Shipper{Log: l, Sink: &audit.JSONLines{Path: path}, Node: "a", Batch: 7}
		if n, err := sh.ShipOnce(ctx); err != nil || n != 50 {
			t.Fatalf("first ship: %d %v", n, err)
		}
		sh.Sink.Close()
		// A crash after writing events 51–53 but before the cursor moved:
		// write them the way the sink does, leave the cursor at 50.
		for range 5 {
			l.Record(ctx, nil, audit.Event{Type: "later", Outcome: audit.Success})
		}
		partial := &audit.JSONLines{Path: path}
		rows := readStored(t, l, 51, 53)
		partial.Write(ctx, rows)
		partial.Close()
		// A new process, and a second node that must not ship at the same time.
		other := &audit.Shipper{Log: l, Sink: &audit.JSONLines{Path: path}, Node: "b"}
		if n, _ := other.ShipOnce(ctx); n != 0 {
			t.Fatalf("a second node shipped %d events while the first holds the lease", n)
		}
		sh2 := &audit.Shipper{Log: l, Sink: &audit.JSONLines{Path: path}, Node: "a"}
		if n, err := sh2.ShipOnce(ctx); err != nil || n != 2 {
			t.Fatalf("after the crash: shipped %d, %v; want the 2 events not yet in the file", n, err)
		}
		sh2.Sink.Close()
		got := seqsIn(t, path)
		if len(got) != 55 {
			t.Fatalf("%d lines, want 55", len(got))
		}
		for i, s := range got {
			if s != int64(i+1) {
				t.Fatalf("line %d has event %d", i+1, s)
			}
		}
	})
}

func readStored(t *testing.T, l *audit.Log, from, to int64) []audit.Stored {
	t.Helper()
	var out []audit.Stored
	path := filepath.Join(t.TempDir(), "tmp.jsonl")
	sh := &audit.Shipper{Log: l, Sink: &audit.JSONLines{Path: path}, Node: "reader-" + strconv.FormatInt(from, 10)}
	// Read through a throwaway stream name, then keep the wanted range.
	sh.ShipOnce(context.Background())
	sh.Sink.Close()
	f, _ := os.Open(path)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e audit.Stored
		json.Unmarshal(sc.Bytes(), &e)
		if e.Seq >= from && e.Seq <= to {
			out = append(out, e)
		}
	}
	return out
}

func TestSyslogOverTLS(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	l := newLog(t, db)
	fill(t, l)
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 100)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			lenText, err := r.ReadString(' ')
			if err != nil {
				return
			}
			n, _ := strconv.Atoi(strings.TrimSpace(lenText))
			buf := make([]byte, n)
			if _, err := ioReadFull(r, buf); err != nil {
				return
			}
			got <- string(buf)
		}
	}()
	sh := &audit.Shipper{Log: l, Sink: &audit.Syslog{Addr: ln.Addr().String(), TLS: &tls.Config{RootCAs: pool, ServerName: "localhost"}, Hostname: "node1"}, Node: "a"}
	if n, err := sh.ShipOnce(ctx); err != nil || n != 50 {
		t.Fatalf("ship: %d %v", n, err)
	}
	for i := 1; i <= 50; i++ {
		select {
		case m := <-got:
			if !strings.HasPrefix(m, "<86>1 2026-12-03T09:00:00.000Z node1 uroportal - phi.results.view [uroportal@32473 seq=\""+strconv.Itoa(i)+"\"") {
				t.Fatalf("message %d: %q", i, m)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d messages arrived", i-1)
		}
	}
	sh.Sink.Close()
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
