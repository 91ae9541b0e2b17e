package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"uroportal/internal/identity"
)

// totpPeriod is RFC 6238's time step; the server accepts each account's
// codes only for steps after the last one used.
const totpPeriod = 30

// signInOnce signs in with email and password, then the TOTP code of this
// moment, and returns the session's bearer token, the time step of the code
// it used, and the time each of the two requests took.
func signInOnce(ctx context.Context, hc *http.Client, base, email, password, secret string) (token string, step int64, login, mfa time.Duration, err error) {
	t0 := time.Now()
	r, err := do(ctx, hc, http.MethodPost, base+"/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	login = time.Since(t0)
	if err != nil {
		return "", 0, login, 0, fmt.Errorf("login: %w", err)
	}
	var l struct {
		MFARequired bool   `json:"mfa_required"`
		MFAToken    string `json:"mfa_token"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &l) != nil || !l.MFARequired || l.MFAToken == "" {
		return "", 0, login, 0, &statusError{"login", r.Status, short(r.Body)}
	}
	now := time.Now()
	code, err := identity.TOTPCode(secret, now)
	if err != nil {
		return "", 0, login, 0, err
	}
	step = now.Unix() / totpPeriod
	t1 := time.Now()
	r, err = do(ctx, hc, http.MethodPost, base+"/api/v1/auth/mfa", "", map[string]string{"mfa_token": l.MFAToken, "code": code})
	mfa = time.Since(t1)
	if err != nil {
		return "", step, login, mfa, fmt.Errorf("mfa: %w", err)
	}
	var m struct {
		Token string `json:"token"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &m) != nil || m.Token == "" {
		return "", step, login, mfa, &statusError{"mfa", r.Status, short(r.Body)}
	}
	return m.Token, step, login, mfa, nil
}

// statusError is an unexpected response.
type statusError struct {
	Step   string
	Status int
	Body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.Step, e.Status, e.Body)
}

// dispenser hands out accounts so that none is used twice in one TOTP time
// step (the server would rightly refuse the code) and each is always signed
// in from the same source address.
type dispenser struct {
	mu       sync.Mutex
	accounts []*slot
	next     int
	waited   atomic.Int64 // nanoseconds workers spent waiting for a free account
	ranOut   atomic.Bool  // take gave up: no account free before the deadline
}

type slot struct {
	benchAccount
	client   *http.Client
	lastStep int64
	busy     bool
}

// take returns a free account whose last code was from an earlier time
// step, waiting (at most until deadline) for one. It returns nil at the
// deadline.
func (d *dispenser) take(ctx context.Context, deadline time.Time) *slot {
	for {
		now := time.Now()
		step := now.Unix() / totpPeriod
		d.mu.Lock()
		for range d.accounts {
			s := d.accounts[d.next]
			d.next = (d.next + 1) % len(d.accounts)
			if !s.busy && s.lastStep < step {
				s.busy = true
				d.mu.Unlock()
				return s
			}
		}
		d.mu.Unlock()
		// Every account has signed in during this step: wait for the next.
		wake := time.Unix((step+1)*totpPeriod, 0)
		if !wake.Before(deadline) {
			d.ranOut.Store(true)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(wake)):
		}
		d.waited.Add(int64(time.Since(now)))
	}
}

func (d *dispenser) release(s *slot, step int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s.lastStep = max(s.lastStep, step)
	s.busy = false
}

// signinStats are one concurrency level's figures.
type signinStats struct {
	Concurrency int
	SignIns     int           // completed (login, code, sign-out) that started in the window
	Elapsed     time.Duration // from the window's start to the last response
	Total       []time.Duration
	Login, MFA  []time.Duration
	Logout      []time.Duration
	Errors      int
	FirstErr    string
	Statuses    map[string]int // "step status" of wrong responses
	Waited      time.Duration  // time workers waited for a free account
	RanOut      bool           // a worker stopped early: every account had signed in during the step
	CPUPerOp    float64        // server CPU ms per sign-in; -1 if unknown
	CPU         cpuUse
}

func (s signinStats) rate() float64 {
	if s.SignIns == 0 || s.Elapsed <= 0 {
		return 0
	}
	return float64(s.SignIns) / s.Elapsed.Seconds()
}

// driveSignIns runs c workers that sign in, with the TOTP code, and sign
// out, for warmup and then duration; only sign-ins started in the measured
// window count.
func driveSignIns(ctx context.Context, base string, d *dispenser, c int, warmup, duration time.Duration, srv *server) (signinStats, error) {
	from := time.Now().Add(warmup)
	until := from.Add(duration)
	var meter atomic.Pointer[cpuMeter]
	defer time.AfterFunc(time.Until(from), func() { meter.Store(startCPU(srv)) }).Stop()
	d.waited.Store(0)
	d.ranOut.Store(false)
	s := signinStats{Concurrency: c, Statuses: map[string]int{}}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		last time.Time
	)
	for range c {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(until) {
				ac := d.take(ctx, until)
				if ac == nil {
					break
				}
				t0 := time.Now()
				if !t0.Before(until) {
					d.release(ac, 0)
					break
				}
				token, step, login, mfa, err := signInOnce(ctx, ac.client, base, ac.Email, ac.Password, ac.TOTPSecret)
				var logout time.Duration
				if err == nil {
					t2 := time.Now()
					var r reply
					r, err = do(ctx, ac.client, http.MethodPost, base+"/api/v1/auth/logout", token, nil)
					logout = time.Since(t2)
					if err == nil && r.Status != http.StatusNoContent {
						err = &statusError{"logout", r.Status, short(r.Body)}
					}
				}
				total := time.Since(t0)
				d.release(ac, step)
				if ctx.Err() != nil {
					break
				}
				if t0.Before(from) {
					continue
				}
				mu.Lock()
				if err != nil {
					s.Errors++
					if s.FirstErr == "" {
						s.FirstErr = err.Error()
					}
					if se, ok := err.(*statusError); ok {
						s.Statuses[fmt.Sprintf("%s %d", se.Step, se.Status)]++
					}
				} else {
					s.SignIns++
					s.Total = append(s.Total, login+mfa)
					s.Login, s.MFA, s.Logout = append(s.Login, login), append(s.MFA, mfa), append(s.Logout, logout)
				}
				if end := t0.Add(total); end.After(last) {
					last = end
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return s, err
	}
	s.Elapsed = max(last.Sub(from), 0)
	s.Waited, s.RanOut = time.Duration(d.waited.Load()), d.ranOut.Load()
	s.CPU = meter.Load().stop()
	s.CPUPerOp = -1
	if s.CPU.ServerTime >= 0 && s.SignIns > 0 {
		s.CPUPerOp = float64(s.CPU.ServerTime) / float64(time.Millisecond) / float64(s.SignIns)
	}
	for _, l := range [][]time.Duration{s.Total, s.Login, s.MFA, s.Logout} {
		slices.Sort(l)
	}
	return s, nil
}
