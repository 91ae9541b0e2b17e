package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/clock"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

func TestArchiveThenPurgeKeepsTheLogVerifiable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(t, db)
		clk := l.Clock.(*clock.Fake)
		fill(t, l) // 50 events, checkpoints at 30 and 50, in 2026
		clk.Advance(7 * 365 * 24 * time.Hour)
		for range 5 {
			l.Record(ctx, nil, audit.Event{Type: "recent", Outcome: audit.Success})
		}
		l.Checkpoint(ctx)
		dir := t.TempDir()

		// Inside the retention period: refused.
		if _, err := l.Archive(ctx, clk.Now().Add(-time.Hour), 0, filepath.Join(dir, "too-new.jsonl")); err == nil {
			t.Fatal("archived events inside the retention period")
		}
		path := filepath.Join(dir, "archive.jsonl")
		res, err := l.Archive(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 0, path)
		if err != nil || res.Events != 50 {
			t.Fatalf("archive: %+v %v", res, err)
		}
		if n, _, err := audit.VerifyArchive(path, l.Signer); err != nil || n != 50 {
			t.Fatalf("archive does not verify: %d %v", n, err)
		}
		if _, err := l.Purge(ctx, access.Actor{UserID: "admin", Role: access.Admin}, path, 0); err == nil {
			t.Fatal("an admin purged the audit log")
		}
		n, err := l.Purge(ctx, access.Actor{UserID: "sec", Role: access.Security}, path, 0)
		if err != nil || n != 50 {
			t.Fatalf("purge: %d %v", n, err)
		}
		rep, err := audit.Verify(ctx, db, l.Signer)
		if err != nil || rep.Problem != nil {
			t.Fatalf("after purge: %v %v", err, rep.Problem)
		}
		// New events continue the numbering; tampering is still found.
		l.Record(ctx, nil, audit.Event{Type: "after", Outcome: audit.Success})
		db.ExecContext(ctx, `UPDATE audit_events SET reason = 'x' WHERE seq = 52`)
		if rep, _ := audit.Verify(ctx, db, l.Signer); rep.Problem == nil || rep.Problem.Index != 52 {
			t.Fatalf("tampering after a purge: %+v", rep.Problem)
		}
		// An edited archive does not verify.
		b, _ := os.ReadFile(path)
		edited := strings.Replace(string(b), `"Outcome":"success"`, `"Outcome":"failure"`, 1)
		if edited == string(b) {
			t.Fatal("the test did not manage to edit the archive")
		}
		os.WriteFile(path, []byte(edited), 0o600)
		if _, _, err := audit.VerifyArchive(path, l.Signer); err == nil {
			t.Fatal("an edited archive verified")
		}
	})
}

// Events written before the log was sealed get their places in batches.
func TestSealOlderEvents(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	l := newLog(t, db)
	for i := range 2500 {
		if _, err := db.ExecContext(ctx, `INSERT INTO audit_events (id, at, event_type, outcome, actor_id, actor_role, patient_id, category, action, object_ids, request_id, source_ip, user_agent, reason)
			VALUES ($1, $2, 'old', 'success', 'u', 'nurse', '', '', '', '', '', '', '', '')`, "old-"+strconv.Itoa(i), i); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.Seal(ctx)
	if err != nil || n != 2500 {
		t.Fatalf("Seal = %d, %v", n, err)
	}
	l.Checkpoint(ctx)
	if rep, err := audit.Verify(ctx, db, l.Signer); err != nil || rep.Problem != nil || rep.Events != 2500 {
		t.Fatalf("after sealing: %+v %v %v", rep, rep.Problem, err)
	}
}
