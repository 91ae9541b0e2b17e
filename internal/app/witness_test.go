package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"uroportal/internal/app"
	"uroportal/internal/audit"
	"uroportal/internal/web"
)

// An outside witness fetches signed heads and checks proofs over the admin
// listener.
func TestWitnessEndpoints(t *testing.T) {
	cfg := demoConfig(t, "")
	cfg.Addr, cfg.AdminAddr, cfg.Demo = "127.0.0.1:0", "127.0.0.1:0", true
	ready := make(chan web.Bound, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, cfg, quiet(), app.ServeOptions{Options: testOptions, Stderr: io.Discard, Ready: func(b web.Bound) { ready <- b }})
	}()
	defer func() { cancel(); <-done }()
	var admin string
	select {
	case b := <-ready:
		admin = "http://" + b.AdminAddr
	case err := <-done:
		t.Fatal(err)
	case <-time.After(60 * time.Second):
		t.Fatal("no start")
	}
	// Two checkpoints, with events between them (another process's view).
	op, err := app.Open(context.Background(), cfg, quiet(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	from, err := op.Audit.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		op.Audit.Record(context.Background(), nil, audit.Event{Type: "test.event", Outcome: audit.Success})
	}
	to, _ := op.Audit.Checkpoint(context.Background())

	get := func(path string, v any) {
		t.Helper()
		res, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
		json.NewDecoder(res.Body).Decode(v)
	}
	var heads struct{ Heads []audit.SignedHead }
	get("/audit/heads", &heads)
	roots := map[int64][]byte{}
	for _, h := range heads.Heads {
		roots[h.Size] = h.Root
	}
	if roots[from] == nil || roots[to] == nil {
		t.Fatalf("heads %v lack %d or %d", heads.Heads, from, to)
	}
	var cons struct{ Proof [][]byte }
	get(fmt.Sprintf("/audit/proof/consistency?from=%d&to=%d", from, to), &cons)
	if err := audit.VerifyConsistency(from, to, roots[from], roots[to], cons.Proof); err != nil {
		t.Fatal(err)
	}
	var inc struct {
		LeafHash []byte `json:"leaf_hash"`
		Proof    [][]byte
	}
	get(fmt.Sprintf("/audit/proof/inclusion?index=%d&size=%d", to, to), &inc)
	if err := audit.VerifyInclusion(to, to, inc.LeafHash, inc.Proof, roots[to]); err != nil {
		t.Fatal(err)
	}
	res, _ := http.Get(admin + "/audit/proof/inclusion?index=0&size=x")
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("bad proof request: %d", res.StatusCode)
	}
}
