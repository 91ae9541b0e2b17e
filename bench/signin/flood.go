package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"uroportal/bench/internal/harness"
)

// pageUser is a signed-in page client: its own session, source address and
// connection, reading its own patient record.
type pageUser struct {
	Name      string // "demo patient" or the bench account's number
	Client    *http.Client
	Token     string
	PatientID string
	Rows      int // rows in the results table, learnt from the first read
}

// page kinds a page client alternates between.
const (
	pageMe      = "GET /api/v1/me"
	pageResults = "GET /patients/{id}/results"
)

var pageKinds = []string{pageMe, pageResults}

// fetchPage gets one page and checks it: 200, and the user's own record
// (the patient ID in /me, the table of the user's results).
func fetchPage(ctx context.Context, base string, u *pageUser, kind string) error {
	url := base + "/api/v1/me"
	if kind == pageResults {
		url = base + "/patients/" + u.PatientID + "/results"
	}
	r, err := do(ctx, u.Client, http.MethodGet, url, u.Token, nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return &statusError{kind, r.Status, short(r.Body)}
	}
	switch kind {
	case pageMe:
		if !bytes.Contains(r.Body, []byte(`"patient_id":"`+u.PatientID+`"`)) {
			return fmt.Errorf("%s: not %s's record: %s", kind, u.Name, short(r.Body))
		}
	case pageResults:
		n := harness.CountRows(r.Body)
		if u.Rows == 0 {
			u.Rows = n
		}
		if n <= 0 || n != u.Rows {
			return fmt.Errorf("%s: %d result rows, want %d", kind, n, u.Rows)
		}
	}
	return nil
}

// pageStats are the page clients' figures over one window.
type pageStats struct {
	Window    string
	Elapsed   time.Duration
	Latencies map[string][]time.Duration // by page kind, sorted
	Errors    int
	FirstErr  string
	CPU       cpuUse
	Flood     *floodStats // the flood during the window, if any
}

// drivePages runs every page user from now until until, one request every
// interval each (closed loop when interval is 0: the next request as soon
// as the last is read), alternating /api/v1/me and the results page, and
// keeps the figures of requests started at or after from.
func drivePages(ctx context.Context, base string, users []*pageUser, interval time.Duration, from, until time.Time) pageStats {
	s := pageStats{Latencies: map[string][]time.Duration{}}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for k, u := range users {
		wg.Go(func() {
			lat := map[string][]time.Duration{}
			var errs int
			var firstErr string
			// Stagger the clients over one interval so their requests do
			// not arrive together.
			next := time.Now()
			if len(users) > 0 {
				next = next.Add(interval * time.Duration(k) / time.Duration(len(users)))
			}
			for i := 0; ctx.Err() == nil; i++ {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(d):
						}
					}
					// A client that fell behind does not burst to catch up.
					if next = next.Add(interval); next.Before(time.Now()) {
						next = time.Now()
					}
				}
				t0 := time.Now()
				if !t0.Before(until) {
					break
				}
				kind := pageKinds[(i+k)%len(pageKinds)]
				err := fetchPage(ctx, base, u, kind)
				d := time.Since(t0)
				if ctx.Err() != nil || t0.Before(from) {
					continue
				}
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = u.Name + ": " + err.Error()
					}
					continue
				}
				lat[kind] = append(lat[kind], d)
			}
			mu.Lock()
			defer mu.Unlock()
			for k, l := range lat {
				s.Latencies[k] = append(s.Latencies[k], l...)
			}
			s.Errors += errs
			if s.FirstErr == "" {
				s.FirstErr = firstErr
			}
		})
	}
	wg.Wait()
	for _, l := range s.Latencies {
		slices.Sort(l)
	}
	return s
}

// floodOptions shape the flood.
type floodOptions struct {
	Rate    int // requests per second, paced (open loop)
	Conns   int // connections (and so requests in flight at most)
	Targets []string
}

// floodStats are what the flood's requests got.
type floodStats struct {
	Scheduled  int // requests due in the window
	Sent       int
	Dropped    int // due while every connection was busy and the backlog full: never sent
	Abandoned  int // still queued when the flood's time ran out
	TransportE int // connection errors, timeouts
	ByStatus   map[int][]time.Duration
	// Service is the time from sending to the end of the response; Due is
	// from the moment the request was due (so it includes any wait for a
	// free connection in the driver).
	Service, Due []time.Duration
	RetryAfter   map[string]int // Retry-After of the 429s
	FirstErr     string
	Elapsed      time.Duration
}

// flood sends opt.Rate POST /api/v1/auth/login a second, paced, with wrong
// passwords for opt.Targets, from hc (one source address), from start for
// duration; it returns once every request has been answered or abandoned
// (at most 30 s after the end).
func flood(ctx context.Context, hc *http.Client, base string, opt floodOptions, start time.Time, duration time.Duration) *floodStats {
	s := &floodStats{ByStatus: map[int][]time.Duration{}, RetryAfter: map[string]int{}}
	n := int(int64(opt.Rate) * int64(duration) / int64(time.Second))
	s.Scheduled = n
	interval := time.Second / time.Duration(opt.Rate)
	jobs := make(chan int, opt.Rate) // one second of backlog at most
	stop := start.Add(duration + 30*time.Second)
	fctx, cancel := context.WithDeadline(ctx, stop)
	defer cancel()

	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		abandoned atomic.Int64
	)
	for range opt.Conns {
		wg.Go(func() {
			for i := range jobs {
				if fctx.Err() != nil {
					abandoned.Add(1)
					continue
				}
				due := start.Add(time.Duration(i) * interval)
				body := map[string]string{
					"email":    opt.Targets[i%len(opt.Targets)],
					"password": "not the password, attempt " + strconv.Itoa(i),
				}
				t0 := time.Now()
				r, err := do(fctx, hc, http.MethodPost, base+"/api/v1/auth/login", "", body)
				end := time.Now()
				mu.Lock()
				s.Sent++
				if err != nil {
					s.TransportE++
					if s.FirstErr == "" {
						s.FirstErr = err.Error()
					}
				} else {
					s.ByStatus[r.Status] = append(s.ByStatus[r.Status], end.Sub(t0))
					s.Service = append(s.Service, end.Sub(t0))
					s.Due = append(s.Due, end.Sub(due))
					if r.Status == http.StatusTooManyRequests {
						s.RetryAfter[r.Header.Get("Retry-After")]++
					} else if r.Status != http.StatusUnauthorized && s.FirstErr == "" {
						s.FirstErr = fmt.Sprintf("status %d: %s", r.Status, short(r.Body))
					}
					if d := end.Sub(start); d > s.Elapsed {
						s.Elapsed = d
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		select {
		case jobs <- i:
		default:
			s.Dropped++
		}
	}
	close(jobs)
	wg.Wait()
	s.Abandoned = int(abandoned.Load())
	for _, l := range s.ByStatus {
		slices.Sort(l)
	}
	slices.Sort(s.Service)
	slices.Sort(s.Due)
	return s
}
