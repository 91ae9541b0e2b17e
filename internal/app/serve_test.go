package app_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/app"
	"uroportal/internal/config"
	"uroportal/internal/fault"
	"uroportal/internal/keyring"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
	"uroportal/internal/web"
)

// serveTest runs Serve with demo data on loopback ports for one test and
// returns the bound addresses and a stop function that waits for it.
func serveTest(t *testing.T, cfg config.Config, so app.ServeOptions) (web.Bound, func()) {
	t.Helper()
	cfg.Addr, cfg.AdminAddr, cfg.Demo = "127.0.0.1:0", "127.0.0.1:0", true
	if so.Stderr == nil {
		so.Stderr = io.Discard
	}
	ready := make(chan web.Bound, 1)
	so.Ready = func(b web.Bound) { ready <- b }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, quiet(), so) }()
	select {
	case b := <-ready:
		return b, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	case err := <-done:
		cancel()
		t.Fatalf("Serve: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	return web.Bound{}, nil
}

// startServer runs Serve with a test authenticator that maps
// "Bearer <user id>" to that user.
func startServer(t *testing.T, cfg config.Config) (base string, stop func()) {
	t.Helper()
	b, stop := serveTest(t, cfg, app.ServeOptions{Options: testOptions,
		Authenticate: func(r *http.Request) (access.Actor, error) {
			id, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				return access.Actor{}, fault.E(fault.Unauthenticated, "sign in", nil)
			}
			return access.Actor{UserID: id, Role: access.Clinician}, nil
		}})
	return "https://" + b.Addr, stop
}

var insecure = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 30 * time.Second}

func TestRotateAndRewrapWhileServing(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			url := ""
			if d == store.Postgres {
				url = storetest.PostgresURL(t)
			}
			cfg := demoConfig(t, url)
			cfg.DemoPatients = 30
			base, stop := startServer(t, cfg)
			defer stop()

			// A second process's view: the operator's `keys` commands.
			ctx := context.Background()
			op, err := app.Open(ctx, cfg, quiet(), testOptions)
			if err != nil {
				t.Fatal(err)
			}
			defer op.Close()
			var clinician string
			op.DB.QueryRowContext(ctx, `SELECT id FROM users WHERE role = 'clinician'`).Scan(&clinician)
			var patients []string
			rows, _ := op.DB.QueryContext(ctx, `SELECT id FROM patients ORDER BY id`)
			for rows.Next() {
				var id string
				rows.Scan(&id)
				patients = append(patients, id)
			}
			rows.Close()

			get := func(pid string) error {
				req, _ := http.NewRequest("GET", base+"/patients/"+pid+"/results", nil)
				req.Header.Set("Authorization", "Bearer "+clinician)
				res, err := insecure.Do(req)
				if err != nil {
					return err
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !strings.Contains(string(body), "Creatinine, serum") {
					return fmt.Errorf("status %d", res.StatusCode)
				}
				return nil
			}
			if err := get(patients[0]); err != nil {
				t.Fatalf("before rotation: %v", err)
			}

			old := op.Keys.Primary()
			var ok, failed atomic.Int64
			var firstErr atomic.Value
			stopLoad := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 3 {
				wg.Go(func() {
					for i := w; ; i++ {
						select {
						case <-stopLoad:
							return
						default:
						}
						if err := get(patients[i%len(patients)]); err != nil {
							failed.Add(1)
							firstErr.CompareAndSwap(nil, err.Error())
						} else {
							ok.Add(1)
						}
					}
				})
			}
			v2, err := op.Keys.Rotate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tables := app.EncryptedTables()
			during := ok.Load()
			n, err := op.Keys.Rewrap(ctx, tables, keyring.RewrapOptions{Batch: 25})
			if err != nil {
				t.Fatal(err)
			}
			during = ok.Load() - during
			close(stopLoad)
			wg.Wait()
			if failed.Load() != 0 {
				t.Fatalf("%d requests failed during rotate/rewrap (first: %v)", failed.Load(), firstErr.Load())
			}
			if during < 10 {
				t.Fatalf("only %d requests completed while the rewrap ran: it starves the server, or the test proves nothing", during)
			}
			t.Logf("rewrapped %d fields while %d requests succeeded", n, during)

			st, err := op.Keys.Status(ctx, tables)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range st {
				if k.Version == old && k.Fields != 0 {
					t.Fatalf("%d fields still under the old key after rewrap", k.Fields)
				}
				if k.Version == v2 && k.Fields == 0 {
					t.Fatal("nothing under the new key")
				}
			}
			if err := op.Keys.Retire(ctx, tables, old); err != nil {
				t.Fatal(err)
			}
			for _, pid := range patients {
				if err := get(pid); err != nil {
					t.Fatalf("after retire: %v", err)
				}
			}
		})
	}
}

func TestServeRefusesWithoutSignIn(t *testing.T) {
	cfg := demoConfig(t, "")
	cfg.DataDir = filepath.Join(t.TempDir(), "d")
	base, stop := startServer(t, cfg)
	defer stop()
	res, err := insecure.Get(base + "/patients/anything/results")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated results page: %d", res.StatusCode)
	}
	for _, h := range []string{"Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options", "Cache-Control"} {
		if res.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
}
