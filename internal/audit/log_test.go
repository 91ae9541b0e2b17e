package audit_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
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

func newLog(t *testing.T, db *store.DB) *audit.Log {
	t.Helper()
	seed := make([]byte, 32)
	rand.Read(seed)
	s, err := audit.NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	return &audit.Log{DB: db, Clock: clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)), Signer: s, Node: "test"}
}

// fill writes 50 events, some inside a caller's transaction, and signs
// checkpoints at 30 and 50.
func fill(t *testing.T, l *audit.Log) {
	t.Helper()
	ctx := audit.WithRequest(context.Background(), audit.Request{ID: "req", SourceIP: "192.0.2.1", UserAgent: "test"})
	for i := range 50 {
		e := audit.Event{Type: "phi.results.view", Outcome: audit.Success, Actor: access.Actor{UserID: fmt.Sprintf("u%d", i%3), Role: access.Clinician},
			PatientID: fmt.Sprintf("p%d", i%7), Category: access.Results, Action: access.View, ObjectIDs: []string{"r1", "r2"}}
		var err error
		if i%4 == 0 {
			err = l.DB.InTx(ctx, func(tx *sql.Tx) error { return l.Record(ctx, tx, e) })
		} else {
			err = l.Record(ctx, nil, e)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 29 || i == 49 {
			if n, err := l.Checkpoint(ctx); err != nil || n != int64(i+1) {
				t.Fatalf("checkpoint: %d %v", n, err)
			}
		}
	}
}

func TestVerifyNamesTheDamagedEvent(t *testing.T) {
	tamper := []struct {
		name  string
		sql   []string
		index int64
		what  string
	}{
		{"untouched", nil, 0, ""},
		{"one byte changed", []string{`UPDATE audit_events SET actor_id = 'u9' WHERE seq = 17`}, 17, "altered"},
		{"time changed", []string{`UPDATE audit_events SET at = at + 1 WHERE seq = 3`}, 3, "altered"},
		{"deleted", []string{`DELETE FROM audit_events WHERE seq = 23`}, 23, "missing"},
		{"swapped", []string{`UPDATE audit_events SET seq = -10 WHERE seq = 10`, `UPDATE audit_events SET seq = 10 WHERE seq = 11`, `UPDATE audit_events SET seq = 11 WHERE seq = -10`}, 10, "altered"},
		{"inserted at the end", []string{`INSERT INTO audit_events (seq, mac, id, at, event_type, outcome, actor_id, actor_role, patient_id, category, action, object_ids, request_id, source_ip, user_agent, reason)
			SELECT 51, mac, 'forged', at, event_type, outcome, actor_id, actor_role, patient_id, category, action, object_ids, request_id, source_ip, user_agent, reason FROM audit_events WHERE seq = 50`}, 51, "altered"},
		{"inserted without a place", []string{`INSERT INTO audit_events (id, at, event_type, outcome, actor_id, actor_role, patient_id, category, action, object_ids, request_id, source_ip, user_agent, reason)
			VALUES ('sneaky', 1, 'x', 'success', 'u1', 'admin', '', '', '', '', '', '', '', '')`}, 51, "no place"},
		{"last events removed", []string{`DELETE FROM audit_events WHERE seq > 45`}, 46, "missing"},
		{"checkpoint forged", []string{`UPDATE audit_checkpoints SET at = at + 1 WHERE tree_size = 30`}, 30, "checkpoint"},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				l := newLog(t, db)
				fill(t, l)
				for _, q := range tc.sql {
					if _, err := db.ExecContext(ctx, q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				rep, err := audit.Verify(ctx, db, l.Signer)
				if err != nil {
					t.Fatal(err)
				}
				if tc.index == 0 {
					if rep.Problem != nil || rep.Events != 50 || rep.Checkpoints != 2 {
						t.Fatalf("untouched log: %+v %v", rep, rep.Problem)
					}
					return
				}
				if rep.Problem == nil || rep.Problem.Index != tc.index || !strings.Contains(rep.Problem.What, tc.what) {
					t.Fatalf("got %v, want event %d %s", rep.Problem, tc.index, tc.what)
				}
			})
		})
	}
}

func TestCheckpointRefusesDamagedLog(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	l := newLog(t, db)
	fill(t, l)
	l.Record(ctx, nil, audit.Event{Type: "x", Outcome: audit.Success})
	db.ExecContext(ctx, `UPDATE audit_events SET reason = 'edited' WHERE seq = 51`)
	if _, err := l.Checkpoint(ctx); err == nil {
		t.Fatal("a checkpoint was signed over an altered event")
	}
}

func TestAnotherKeyDoesNotVerify(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	l := newLog(t, db)
	fill(t, l)
	other := newLog(t, db)
	rep, _ := audit.Verify(context.Background(), db, other.Signer)
	if rep.Problem == nil || rep.Problem.Index != 1 {
		t.Fatalf("a log verified under another key: %+v", rep)
	}
}

func TestFailsClosedWithoutKey(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	l := &audit.Log{DB: db, Clock: clock.Real{}}
	if err := l.Record(context.Background(), nil, audit.Event{Type: "x"}); err == nil {
		t.Fatal("an event was written without a key")
	}
}

func BenchmarkVerify(b *testing.B) {
	db := storetest.MustOpen(b, store.SQLite)
	seed := make([]byte, 32)
	s, _ := audit.NewSigner(seed)
	l := &audit.Log{DB: db, Clock: clock.Real{}, Signer: s}
	ctx := context.Background()
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("UROPORTAL_BENCH_VERIFY_EVENTS")); err == nil && v > 0 {
		n = v // e.g. 1000000
	}
	db.InTx(ctx, func(tx *sql.Tx) error {
		for i := range n {
			if err := l.Record(ctx, tx, audit.Event{Type: "phi.results.view", Outcome: audit.Success, PatientID: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	l.Checkpoint(ctx)
	b.ResetTimer()
	for b.Loop() {
		rep, err := audit.Verify(ctx, db, s)
		if err != nil || rep.Problem != nil {
			b.Fatal(err, rep.Problem)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// Concurrent events of their own share commits; the log stays in order.
func TestGroupCommitKeepsOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(t, db)
		errs := make(chan error, 200)
		for i := range 200 {
			go func() {
				errs <- l.Record(ctx, nil, audit.Event{Type: "phi.results.view", Outcome: audit.Success, PatientID: fmt.Sprint(i)})
			}()
		}
		for range 200 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		rep, err := audit.Verify(ctx, db, l.Signer)
		if err != nil || rep.Problem != nil || rep.Events != 200 {
			t.Fatalf("after 200 concurrent events: %+v %v %v", rep, rep.Problem, err)
		}
	})
}

func BenchmarkRecordParallel(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.MustOpen(b, d)
			seed := make([]byte, 32)
			s, _ := audit.NewSigner(seed)
			l := &audit.Log{DB: db, Clock: clock.Real{}, Signer: s}
			ctx := context.Background()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Record(ctx, nil, audit.Event{Type: "phi.results.view", Outcome: audit.Success, PatientID: "p1", ObjectIDs: []string{"r1"}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func TestSearchPagesThroughEverything(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(t, db)
		fill(t, l)
		d, err := access.New(db, clock.Real{}).DecidePractice(access.Actor{UserID: "sec", Role: access.Security}, access.View, access.AuditLog)
		if err != nil {
			t.Fatal(err)
		}
		for _, sort := range []string{"time", "actor", "patient"} {
			seen := map[int64]bool{}
			f := audit.Filter{Sort: sort, Desc: sort == "time", Limit: 7, Type: "phi.results.view"}
			for page := 0; page < 20; page++ {
				rows, err := l.Search(ctx, d, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					if seen[r.Seq] {
						t.Fatalf("sort %s: event %d on two pages", sort, r.Seq)
					}
					seen[r.Seq] = true
				}
				if len(rows) < f.Limit {
					break
				}
				f.After, f.AfterValue = rows[len(rows)-1].Seq, rows[len(rows)-1].SortValue(sort)
			}
			if len(seen) != 50 {
				t.Fatalf("sort %s: paged through %d of 50 events", sort, len(seen))
			}
		}
		if _, err := access.New(db, clock.Real{}).DecidePractice(access.Actor{UserID: "n", Role: access.Nurse}, access.View, access.AuditLog); err == nil {
			t.Fatal("a nurse may read the audit log")
		}
	})
}
