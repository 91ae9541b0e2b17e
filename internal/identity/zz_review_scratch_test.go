package identity_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"uroportal/internal/identity"
	"uroportal/internal/session"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

func TestScratchReauthIgnoresLockout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, identity.AuthConfig{})
		r, err := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], web)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := e.auth.Authenticate(ctx, r.Token)
		for i := 0; i < 60; i++ {
			if err := e.auth.Reauthenticate(ctx, p, fmt.Sprintf("guess %d", i), "", ""); err == nil {
				t.Fatal("wrong pw accepted")
			}
		}
		_, lerr := e.auth.Login(ctx, "patient@example.org", e.pw["patient"], identity.Client{IP: "198.51.100.7", Kind: session.Browser})
		err = e.auth.Reauthenticate(ctx, p, e.pw["patient"], "", "")
		t.Logf("after 60 wrong reauths: login with right pw => %v ; reauth with right pw => %v", lerr, err)
	})
}

func TestScratchParallelMFA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, identity.AuthConfig{})
		const N = 200
		toks := make([]string, N)
		for i := range toks {
			c := identity.Client{IP: fmt.Sprintf("10.0.%d.%d", i/200, i%200), Kind: session.API}
			r, err := e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], c)
			if err != nil {
				t.Fatal(i, err)
			}
			toks[i] = r.Token
		}
		good := e.code(t, "nurse")
		var checked, refused, other atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range toks {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				_, _, err := e.auth.SecondFactor(ctx, toks[i], "recovery", fmt.Sprintf("WRONG-%05d", i))
				switch {
				case errors.Is(err, identity.ErrCode):
					checked.Add(1)
				case errors.Is(err, identity.ErrInvalidCredentials):
					refused.Add(1)
				default:
					other.Add(1)
				}
			}(i)
		}
		close(start)
		wg.Wait()
		t.Logf("%d parallel wrong codes on %d pending sessions: evaluated+counted=%d refused(locked)=%d other=%d", N, N, checked.Load(), refused.Load(), other.Load())
		_ = good
	})
}

func TestScratchParallelMFAWin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, identity.AuthConfig{})
		const N = 200
		toks := make([]string, N)
		for i := range toks {
			c := identity.Client{IP: fmt.Sprintf("10.1.%d.%d", i/200, i%200), Kind: session.API}
			r, err := e.auth.Login(ctx, "nurse@example.org", e.pw["nurse"], c)
			if err != nil {
				t.Fatal(i, err)
			}
			toks[i] = r.Token
		}
		good := e.code(t, "nurse")
		var checked atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		var winErr error
		for i := range toks {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				if i == N-1 {
					for k := 0; checked.Load() < 20 && k < 2000; k++ {
						time.Sleep(time.Millisecond)
					}
					_, _, winErr = e.auth.SecondFactor(ctx, toks[i], "totp", good)
					return
				}
				_, _, err := e.auth.SecondFactor(ctx, toks[i], "recovery", fmt.Sprintf("WRONG-%05d", i))
				if errors.Is(err, identity.ErrCode) {
					checked.Add(1)
				}
			}(i)
		}
		close(start)
		wg.Wait()
		var failed, lockouts int
		var until int64
		db.QueryRowContext(ctx, `SELECT failed_logins, lockouts, locked_until FROM users WHERE id = $1`, e.users["nurse"].ID).Scan(&failed, &lockouts, &until)
		t.Logf("correct code sent after >=20 wrong codes were already counted: err=%v ; wrong evaluated=%d", winErr, checked.Load())
	})
}
