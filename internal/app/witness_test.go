package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"uroportal/internal/app"
	"uroportal/internal/audit"
)

// An outside witness fetches signed heads and checks proofs over the admin
// listener.
func TestWitnessEndpoints(t *testing.T) {
	cfg := demoConfig(t, "")
	bound, stop := serveTest(t, cfg, app.ServeOptions{Options: testOptions})
	defer stop()
	admin := "http://" + bound.AdminAddr
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
