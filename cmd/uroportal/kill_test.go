package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"uroportal/internal/app"
	"uroportal/internal/audit"
	"uroportal/internal/config"
	"uroportal/internal/demo"
	"uroportal/internal/identity"
)

// TestMain lets the test binary act as uroportal in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("UROPORTAL_TEST_BE_MAIN") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// A server killed with SIGKILL in the middle of audited reads has an audit
// event for every response its client received.
func TestSIGKILLLosesNoAuditEvent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "serve", "--demo", "--patients", "3", "--data", dir, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "error")
	cmd.Env = append(os.Environ(), "UROPORTAL_TEST_BE_MAIN=1", "UROPORTAL_ARGON2_MEMORY_MIB=19", "UROPORTAL_ARGON2_PASSES=2")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "uroportal: listening on "); ok {
				addr <- a
			}
		}
	}()
	var base string
	select {
	case base = <-addr:
	case <-time.After(120 * time.Second):
		t.Fatal("the server did not start")
	}
	logins, err := demo.ReadLogins(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pat demo.Login
	for _, l := range logins {
		if l.Role == "patient" {
			pat = l
			break
		}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	post := func(path string, body any) map[string]any {
		b, _ := json.Marshal(body)
		res, err := client.Post(base+path, "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return m
	}
	m := post("/api/v1/auth/login", map[string]string{"email": pat.Email, "password": pat.Password})
	code, _ := identity.TOTPCode(pat.TOTPSecret, time.Now())
	m = post("/api/v1/auth/mfa", map[string]string{"mfa_token": fmt.Sprint(m["mfa_token"]), "code": code})
	token, _ := m["token"].(string)
	if token == "" {
		t.Fatalf("sign-in failed: %v", m)
	}

	// Four clients read results; the server is killed mid-stream.
	received := make(chan string, 10000)
	stop := make(chan struct{})
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", base+"/api/v1/patients/"+pat.PatientID+"/labs", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := client.Do(req)
				if err != nil {
					return // killed
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err == nil && res.StatusCode == 200 && strings.Contains(string(body), `"results"`) {
					received <- res.Header.Get("X-Request-ID")
				}
			}
		}()
	}
	var ids []string
	deadline := time.After(60 * time.Second)
	for len(ids) < 200 {
		select {
		case id := <-received:
			ids = append(ids, id)
		case <-deadline:
			t.Fatalf("only %d responses in a minute", len(ids))
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(stop)
	for range 4 {
		<-done
	}
	close(received)
	for id := range received {
		ids = append(ids, id)
	}

	cfg := config.Default()
	cfg.DataDir = dir
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	n := 0
	for _, id := range ids {
		var count int
		if err := a.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE request_id = $1 AND event_type = 'phi.results.view' AND outcome = 'success'`, id).Scan(&count); err != nil {
			t.Fatal(err)
		}
		if count != 1 {
			t.Fatalf("the client received response %s but the audit log has %d events for it", id, count)
		}
		n++
	}
	rep, err := audit.Verify(context.Background(), a.DB, a.Audit.Signer)
	if err != nil || rep.Problem != nil {
		t.Fatalf("the log after SIGKILL: %v %v", err, rep.Problem)
	}
	t.Logf("%d responses received before SIGKILL, each audited; %d events verify", n, rep.Events)
}
