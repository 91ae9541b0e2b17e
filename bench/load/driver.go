package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"uroportal/bench/internal/harness"
)

// loadOptions shape the traffic of one variant's run.
type loadOptions struct {
	Warmup, Duration time.Duration
	Concurrency      int
}

// stats are one variant's figures.
type stats struct {
	Variant   string
	Requests  int           // completed in the measured window
	Elapsed   time.Duration // from the end of warm-up to the last response
	Latencies []time.Duration
	Errors    int
	FirstErr  string
	PeakRSS   int64   // KiB, VmHWM of the server process; -1 if unknown
	CPUPerReq float64 // server CPU milliseconds per measured request; -1 if unknown
	Proto     string
}

func (s stats) rps() float64 { return float64(s.Requests) / s.Elapsed.Seconds() }

// driverMain runs `load run`.
func driverMain(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("load run", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("data", "", "benchmark data directory, reused when it exists (default: one under the temporary directory named by -patients and -seed)")
	patients := fl.Int("patients", 10000, "demo patients in the data directory")
	seed := fl.Uint64("seed", 1, "seed of the demo data")
	var o loadOptions
	fl.DurationVar(&o.Duration, "duration", 20*time.Second, "measured time per variant")
	fl.DurationVar(&o.Warmup, "warmup", 3*time.Second, "unmeasured time per variant before it")
	fl.IntVar(&o.Concurrency, "concurrency", 8, "concurrent clients, each on its own keep-alive HTTP/1.1 connection")
	rounds := fl.Int("rounds", 1, "times to run every variant, alternating the order; the table shows each variant's median round")
	variants := fl.String("variants", "encrypted,plain", "comma-separated variants to run: encrypted, plain, patient-audited, patient-unaudited")
	logLevel := fl.String("server-log-level", "warn", "the server's log level (its JSON log goes to stderr)")
	fresh := fl.Bool("fresh", true, "run each variant on a fresh copy of the prepared data, so both start from the same database and reruns do not grow its audit log")
	profDir := fl.String("server-cpuprofile", "", "directory to write each server's CPU profile to, as VARIANT-ROUND.pprof")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if o.Concurrency < 1 || o.Duration <= 0 || o.Warmup < 0 || *rounds < 1 {
		return errors.New("-concurrency and -rounds must be at least 1, -duration positive and -warmup not negative")
	}
	vs := strings.Split(*variants, ",")
	for _, v := range vs {
		switch v {
		case "encrypted", "plain", "patient-audited", "patient-unaudited":
		default:
			return fmt.Errorf("-variants: unknown variant %q (use encrypted, plain, patient-audited, patient-unaudited)", v)
		}
	}
	if *dir == "" {
		*dir = filepath.Join(os.TempDir(), fmt.Sprintf("uroportal-bench-%dp-seed%d", *patients, *seed))
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ds, err := prepare(ctx, prepOptions{Dir: *dir, Patients: *patients, Seed: *seed}, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "data: %s (%d demo patients, seed %d; bench patient with %d results; %d rows in the plain copy; prepared %s in %.0fs + %.0fs)\n",
		*dir, ds.Patients, ds.Seed, ds.BenchResults, ds.PlainRows, ds.PreparedAt, ds.DemoSeconds, ds.CopySeconds)
	fmt.Fprintf(stdout, "load: GET /patients/{id}/results over HTTPS (HTTP/1.1, keep-alive), %d clients, %s warm-up + %s measured per variant; %s, %s/%s, %d CPUs\n",
		o.Concurrency, o.Warmup, o.Duration, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	tmp, err := os.MkdirTemp("", "uroportal-bench-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	all := map[string][]stats{}
	var wrong []string
	for i := range *rounds * len(vs) {
		// Rounds alternate the order (A B, B A, …) so drift in the
		// machine's load falls on both variants alike.
		r, k := i/len(vs), i%len(vs)
		if r%2 == 1 {
			k = len(vs) - 1 - k
		}
		v := vs[k]
		serverArgs := []string{"-log-level", *logLevel}
		if *profDir != "" {
			serverArgs = append(serverArgs, "-cpuprofile", filepath.Join(*profDir, fmt.Sprintf("%s-%d.pprof", v, r+1)))
		}
		runDir := *dir
		if *fresh {
			runDir = filepath.Join(tmp, fmt.Sprintf("%s-%d", v, r+1))
			if err := harness.CopyDir(*dir, runDir); err != nil {
				return fmt.Errorf("copy the prepared data: %w", err)
			}
		}
		s, err := runVariant(ctx, exe, runDir, v, filepath.Join(tmp, fmt.Sprintf("%s-%d.json", v, r+1)), serverArgs, o, stderr)
		if *fresh {
			os.RemoveAll(runDir)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", v, err)
		}
		printStats(stdout, s)
		all[v] = append(all[v], s)
		if s.Errors > 0 {
			wrong = append(wrong, fmt.Sprintf("%s: %d wrong responses, first: %s", v, s.Errors, s.FirstErr))
		}
	}
	fmt.Fprintln(stdout)
	printTable(stdout, vs, all)
	return harness.WrongResponses(wrong)
}

// runVariant starts a server process for variant, drives load at it, reads
// its peak memory and stops it.
func runVariant(ctx context.Context, exe, dir, variant, endpointFile string, serverArgs []string, o loadOptions, stderr io.Writer) (stats, error) {
	args := append([]string{"server", "-data", dir, "-variant", variant, "-addr", "127.0.0.1:0", "-token-file", endpointFile}, serverArgs...)
	var ep endpoint
	srv, err := harness.StartChild(ctx, exe, args, endpointFile, &ep, stderr)
	if err != nil {
		return stats{}, err
	}
	defer srv.Stop()

	client, err := newClient(dir, o.Concurrency)
	if err != nil {
		return stats{}, err
	}
	defer client.CloseIdleConnections()
	url := "https://" + ep.Addr + "/patients/" + ep.BenchPatientID + "/results"

	var cpu0 atomic.Int64
	cpu0.Store(-1)
	s, err := drive(ctx, client, url, ep.Token, ep.BenchResults, o, func() { cpu0.Store(int64(srv.CPUTime())) })
	if err != nil {
		return s, err
	}
	s.Variant = variant
	s.CPUPerReq = -1
	if c0, c1 := time.Duration(cpu0.Load()), srv.CPUTime(); c0 >= 0 && c1 >= 0 && s.Requests > 0 {
		s.CPUPerReq = float64(c1-c0) / float64(time.Millisecond) / float64(s.Requests)
	}
	s.PeakRSS = srv.PeakRSS()
	if err := srv.Stop(); err != nil {
		return s, fmt.Errorf("server: %w", err)
	}
	return s, nil
}

// newClient is an HTTP/1.1 client with one keep-alive connection per worker
// that trusts only the server's self-signed certificate in dir.
func newClient(dir string, conns int) (*http.Client, error) {
	roots, err := harness.CertPool(dir)
	if err != nil {
		return nil, err
	}
	return harness.Client(harness.Transport(roots, conns)), nil
}

// drive sends requests from o.Concurrency workers for o.Warmup, then
// measures for o.Duration, calling measuring as the measured window opens.
// Every response is checked: status 200 and wantRows rows in the results
// table.
func drive(ctx context.Context, client *http.Client, url, token string, wantRows int, o loadOptions, measuring func()) (stats, error) {
	from := time.Now().Add(o.Warmup)
	until := from.Add(o.Duration)
	defer time.AfterFunc(time.Until(from), measuring).Stop()
	var (
		mu    sync.Mutex
		s     stats
		wg    sync.WaitGroup
		last  time.Time
		proto string
	)
	for range o.Concurrency {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			var errs int
			var firstErr string
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(until) {
					break
				}
				p, err := fetch(ctx, client, url, token, wantRows)
				d := time.Since(t0)
				if ctx.Err() != nil {
					break
				}
				if t0.Before(from) {
					continue
				}
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				lat = append(lat, d)
				if len(lat) == 1 {
					mu.Lock()
					if proto == "" {
						proto = p
					}
					mu.Unlock()
				}
			}
			end := time.Now()
			mu.Lock()
			defer mu.Unlock()
			s.Latencies = append(s.Latencies, lat...)
			s.Errors += errs
			if s.FirstErr == "" {
				s.FirstErr = firstErr
			}
			if end.After(last) {
				last = end
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return s, err
	}
	slices.Sort(s.Latencies)
	s.Requests = len(s.Latencies) + s.Errors
	s.Elapsed = last.Sub(from)
	s.Proto = proto
	return s, nil
}

// fetch gets url and checks the response; it returns the protocol used.
func fetch(ctx context.Context, client *http.Client, url, token string, wantRows int) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp.Proto, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Proto, fmt.Errorf("status %d", resp.StatusCode)
	}
	if n := harness.CountRows(body); n != wantRows {
		return resp.Proto, fmt.Errorf("%d result rows, want %d", n, wantRows)
	}
	return resp.Proto, nil
}

// ms formats a latency with two decimals.
func ms(d time.Duration) string { return harness.MS(d, 2) }

func printStats(w io.Writer, s stats) {
	l := s.Latencies
	fmt.Fprintf(w, "%-9s %s  %6d requests in %.1fs = %.1f req/s  p50 %s  p90 %s  p99 %s  max %s  errors %d  server CPU/request %s  server peak RSS %s\n",
		s.Variant, s.Proto, s.Requests, s.Elapsed.Seconds(), s.rps(), ms(harness.Percentile(l, 50)), ms(harness.Percentile(l, 90)), ms(harness.Percentile(l, 99)),
		ms(harness.Percentile(l, 100)), s.Errors, cpuMS(s.CPUPerReq), harness.MiB(s.PeakRSS))
}

// cpuMS formats CPU milliseconds with two decimals, n/a if unknown.
func cpuMS(v float64) string { return harness.MSOrNA(v, 2) }

// summary is a variant's figures over its rounds: the median of each, and
// the highest peak memory.
type summary struct {
	RPS, CPU float64
	P50, P99 time.Duration
	PeakRSS  int64
	Rounds   int
}

func summarize(rounds []stats) summary {
	var rps, cpu []float64
	var p50, p99 []time.Duration
	peak := int64(-1)
	for _, s := range rounds {
		rps, cpu = append(rps, s.rps()), append(cpu, s.CPUPerReq)
		p50, p99 = append(p50, harness.Percentile(s.Latencies, 50)), append(p99, harness.Percentile(s.Latencies, 99))
		peak = max(peak, s.PeakRSS)
	}
	return summary{RPS: median(rps), CPU: median(cpu), P50: median(p50), P99: median(p99), PeakRSS: peak, Rounds: len(rounds)}
}

// median is the middle value, or the mean of the two middle ones.
func median[T float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// printTable prints the figures as a Markdown table, with the
// encrypted/plain ratios when both ran.
func printTable(w io.Writer, variants []string, all map[string][]stats) {
	fmt.Fprintln(w, "| variant | req/s | p50 | p99 | server CPU/request | peak RSS |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	by := map[string]summary{}
	for _, v := range variants {
		s := summarize(all[v])
		by[v] = s
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s |\n", v, s.RPS, ms(s.P50), ms(s.P99), cpuMS(s.CPU), harness.MiB(s.PeakRSS))
	}
	e, okE := by["encrypted"]
	p, okP := by["plain"]
	if okE && okP {
		cpu := "n/a"
		if e.CPU > 0 && p.CPU > 0 {
			cpu = strconv.FormatFloat(e.CPU/p.CPU, 'f', 2, 64)
		}
		fmt.Fprintf(w, "| encrypted / plain | %.2f | %.2f | %.2f | %s | |\n", e.RPS/p.RPS,
			float64(e.P50)/float64(p.P50), float64(e.P99)/float64(p.P99), cpu)
	}
	if r := by[variants[0]].Rounds; r > 1 {
		fmt.Fprintf(w, "\nMedians of %d rounds per variant; peak RSS is the highest of them.\n", r)
	}
}
