package session_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/keyring"
	"uroportal/internal/session"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

func setup(t *testing.T, db *store.DB) (*session.Store, *session.Store, *clock.Fake) {
	t.Helper()
	ctx := context.Background()
	raw := make([]byte, 32)
	rand.Read(raw)
	kek, _ := keyring.NewLocalKEK(raw)
	clk := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	kr, err := keyring.Open(ctx, db, kek, clk)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"u1", "u2"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO users (id, email_index, email, name, role, password_hash, created_at) VALUES ($1, $2, $3, $3, 'nurse', 'x', 0)`,
			id, []byte(id), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Two stores on one database: two nodes.
	return session.NewStore(db, kr, clk, session.Config{}), session.NewStore(db, kr, clk, session.Config{}), clk
}

func ended(t *testing.T, err error) {
	t.Helper()
	if err == nil || fault.KindOf(err) != fault.Unauthenticated {
		t.Fatalf("err = %v, want an ended session", err)
	}
}

func TestLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b, clk := setup(t, db)
		tok, s, err := a.New(ctx, db, "u1", true, session.Browser, session.Active, "Firefox on Linux", "192.0.2.7")
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) < 43 {
			t.Fatalf("token %q is shorter than 256 bits", tok)
		}
		var stored []byte
		db.QueryRowContext(ctx, `SELECT token_hash FROM sessions WHERE id = $1`, s.ID).Scan(&stored)
		if bytes.Contains(stored, []byte(tok)) || !bytes.Equal(stored, session.HashToken(tok)) {
			t.Fatal("the token is not stored only as its hash")
		}
		if got, err := b.Lookup(ctx, tok); err != nil || got.UserID != "u1" {
			t.Fatalf("node B lookup: %+v %v", got, err)
		}
		// Activity within the idle window keeps it alive.
		clk.Advance(10 * time.Minute)
		got, _ := a.Lookup(ctx, tok)
		a.Touch(ctx, got)
		clk.Advance(10 * time.Minute)
		if _, err := b.Lookup(ctx, tok); err != nil {
			t.Fatalf("after activity 10 minutes ago: %v", err)
		}
		// Idle: staff 15 minutes.
		clk.Advance(5*time.Minute + time.Second)
		_, err = b.Lookup(ctx, tok)
		ended(t, err)
		var reason string
		db.QueryRowContext(ctx, `SELECT end_reason FROM sessions WHERE id = $1`, s.ID).Scan(&reason)
		if reason != session.EndIdle {
			t.Fatalf("end reason %q", reason)
		}
	})
}

func TestAbsoluteLifetime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, _, clk := setup(t, db)
		tok, _, _ := a.New(ctx, db, "u1", false, session.API, session.Active, "", "")
		for range 12 * 5 {
			clk.Advance(12 * time.Minute)
			s, err := a.Lookup(ctx, tok)
			if clk.Now().Sub(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)) >= 12*time.Hour {
				ended(t, err)
				return
			}
			if err != nil {
				t.Fatalf("at %v: %v", clk.Now(), err)
			}
			a.Touch(ctx, s)
		}
		t.Fatal("the session outlived 12 hours")
	})
}

func TestAdvanceRotatesToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, _, clk := setup(t, db)
		tok, s, _ := a.New(ctx, db, "u1", true, session.Browser, session.MFA, "", "")
		if s.ExpiresAt.Sub(clk.Now()) != 5*time.Minute {
			t.Fatalf("a pending session lives %v", s.ExpiresAt.Sub(clk.Now()))
		}
		clk.Advance(time.Minute)
		tok2, err := a.Advance(ctx, db, s.ID, session.Active)
		if err != nil || tok2 == tok {
			t.Fatalf("Advance: %v (same token: %v)", err, tok2 == tok)
		}
		_, err = a.Lookup(ctx, tok)
		ended(t, err)
		got, err := a.Lookup(ctx, tok2)
		if err != nil || got.State != session.Active || got.ExpiresAt.Sub(clk.Now()) != 12*time.Hour {
			t.Fatalf("after Advance: %+v %v", got, err)
		}
	})
}

func TestPendingExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, _, clk := setup(t, db)
		tok, _, _ := a.New(ctx, db, "u1", true, session.API, session.MFA, "", "")
		clk.Advance(5 * time.Minute)
		_, err := a.Lookup(ctx, tok)
		ended(t, err)
	})
}

func TestEndEverywhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b, _ := setup(t, db)
		t1, s1, _ := a.New(ctx, db, "u1", true, session.Browser, session.Active, "Safari on iPhone", "198.51.100.4")
		t2, _, _ := a.New(ctx, db, "u1", true, session.API, session.Active, "app", "198.51.100.5")
		t3, _, _ := a.New(ctx, db, "u2", true, session.API, session.Active, "app", "198.51.100.6")
		list, err := b.List(ctx, "u1")
		if err != nil || len(list) != 2 || list[0].UserAgent == "" || list[1].SourceIP == "" {
			t.Fatalf("List: %+v %v", list, err)
		}
		// A user cannot end someone else's session by its ID.
		if err := b.EndOwn(ctx, "u2", s1.ID, session.EndByUser); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("ending another user's session: %v", err)
		}
		// Sign-out on node A is honoured by node B at once.
		if err := a.End(ctx, db, s1.ID, session.EndSignOut); err != nil {
			t.Fatal(err)
		}
		_, err = b.Lookup(ctx, t1)
		ended(t, err)
		if n, err := a.EndUser(ctx, db, "u1", session.EndPasswordChange, ""); err != nil || n != 1 {
			t.Fatalf("EndUser = %d, %v", n, err)
		}
		_, err = b.Lookup(ctx, t2)
		ended(t, err)
		if _, err := b.Lookup(ctx, t3); err != nil {
			t.Fatalf("another user's session ended too: %v", err)
		}
	})
}

func TestBadTokens(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	a, _, _ := setup(t, db)
	for _, tok := range []string{"", "x", string(make([]byte, 4096))} {
		if _, err := a.Lookup(context.Background(), tok); !errors.Is(err, session.ErrEnded) {
			t.Errorf("Lookup(%q...) = %v", tok[:min(len(tok), 8)], err)
		}
	}
}
