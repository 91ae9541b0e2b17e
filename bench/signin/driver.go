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
	"sync/atomic"
	"syscall"
	"time"

	"uroportal/bench/internal/harness"
	"uroportal/internal/identity"
)

// options are the driver's flags.
type options struct {
	Dir                   string
	Patients, Accounts    int
	Seed                  uint64
	Argon2                identity.Argon2Params
	Phases                []string
	Levels                []int
	Warmup, Duration      time.Duration
	SourceIPs             int
	PageClients           int
	PageInterval          time.Duration
	FloodRate, FloodConns int
	FloodAccounts         int
	FloodWarmup           time.Duration
	After                 bool
	LogLevel, ProfDir     string
}

// driverMain runs `signin run`.
func driverMain(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ds, err := prepare(ctx, prepOptions{Dir: o.Dir, Patients: o.Patients, Seed: o.Seed, Accounts: o.Accounts, Argon2: o.Argon2}, stderr)
	if err != nil {
		return err
	}
	accounts, err := readAccounts(o.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "data: %s (%d demo patients, seed %d; %d sign-in accounts; argon2id %d MiB, %d passes, %d lanes; prepared %s in %.0fs + %.0fs)\n",
		o.Dir, ds.Patients, ds.Seed, ds.Accounts, ds.Argon2.MemoryKiB/1024, ds.Argon2.Passes, ds.Argon2.Threads, ds.PreparedAt, ds.DemoSeconds, ds.AccountSeconds)
	fmt.Fprintf(stdout, "machine: %s, %s/%s, %d CPUs; HTTPS over loopback, HTTP/1.1 keep-alive\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	tmp, err := os.MkdirTemp("", "uroportal-signin-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var wrong []string
	for _, ph := range o.Phases {
		var w []string
		switch ph {
		case "signin":
			w, err = signinPhase(ctx, exe, tmp, o, accounts, stdout, stderr)
		case "flood":
			w, err = floodPhase(ctx, exe, tmp, o, accounts, stdout, stderr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", ph, err)
		}
		wrong = append(wrong, w...)
	}
	return harness.WrongResponses(wrong)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fl := flag.NewFlagSet("signin run", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&o.Dir, "data", "", "benchmark data directory, reused when it exists (default: one under the temporary directory named by -patients, -accounts and -seed)")
	fl.IntVar(&o.Patients, "patients", 50, "demo patients in the data directory")
	fl.Uint64Var(&o.Seed, "seed", 1, "seed of the demo data")
	fl.IntVar(&o.Accounts, "accounts", 300, "patient accounts to sign in with; each signs in at most once per 30-second TOTP step, so sign-ins/s is capped at accounts/30")
	phases := fl.String("phases", "signin,flood", "comma-separated phases to run: signin, flood")
	levels := fl.String("concurrency", "1,2,4,8", "comma-separated numbers of concurrent sign-in clients, one measured window each")
	fl.DurationVar(&o.Warmup, "warmup", 3*time.Second, "unmeasured time before each measured window")
	fl.DurationVar(&o.Duration, "duration", 20*time.Second, "measured time of each window")
	fl.IntVar(&o.SourceIPs, "source-ips", 64, "loopback source addresses the sign-in accounts are spread over (the server throttles sign-in per address)")
	fl.IntVar(&o.PageClients, "page-clients", 4, "signed-in clients reading pages in the flood phase, each its own session, address and connection")
	fl.DurationVar(&o.PageInterval, "page-interval", 100*time.Millisecond, "time between a page client's requests (0: the next as soon as the last is read)")
	fl.IntVar(&o.FloodRate, "flood-rate", 1000, "sign-in requests per second from the one flooding address (paced, open loop)")
	fl.IntVar(&o.FloodConns, "flood-conns", 128, "connections the flood may use, so requests in flight at most")
	fl.IntVar(&o.FloodAccounts, "flood-accounts", 2, "accounts the flood tries wrong passwords for")
	fl.DurationVar(&o.FloodWarmup, "flood-warmup", 2*time.Second, "flood time before the page clients' measured window")
	fl.BoolVar(&o.After, "after", true, "measure the pages once more after the flood has ended")
	fl.StringVar(&o.LogLevel, "server-log-level", "warn", "the server's log level (its JSON log goes to stderr)")
	fl.StringVar(&o.ProfDir, "server-cpuprofile", "", "directory for the server's CPU profile of each measured window (and its goroutines at the window's end)")
	cheap := fl.Bool("cheap-argon2", false, "hash with 1 MiB and 1 pass instead of the product's cost (for the test only; the figures then say nothing)")
	if err := fl.Parse(args); err != nil {
		return o, err
	}
	if fl.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	o.Argon2 = identity.DefaultArgon2
	if *cheap {
		o.Argon2 = identity.Argon2Params{MemoryKiB: 1024, Passes: 1, Threads: 1}
	}
	o.Phases = strings.Split(*phases, ",")
	for _, p := range o.Phases {
		if p != "signin" && p != "flood" {
			return o, fmt.Errorf("-phases: unknown phase %q (use signin, flood)", p)
		}
	}
	for _, f := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 256 {
			return o, fmt.Errorf("-concurrency: %q is not a number from 1 to 256", f)
		}
		o.Levels = append(o.Levels, n)
	}
	switch {
	case o.Duration <= 0 || o.Warmup < 0 || o.FloodWarmup < 0 || o.PageInterval < 0:
		return o, errors.New("-duration must be positive; -warmup, -flood-warmup and -page-interval not negative")
	case o.SourceIPs < 1 || o.SourceIPs > 10000:
		return o, errors.New("-source-ips must be from 1 to 10000")
	case o.PageClients < 1 || o.PageClients > 64:
		return o, errors.New("-page-clients must be from 1 to 64")
	case o.FloodRate < 1 || o.FloodRate > 100000 || o.FloodConns < 1 || o.FloodConns > 4096:
		return o, errors.New("-flood-rate must be from 1 to 100000 and -flood-conns from 1 to 4096")
	case o.FloodAccounts < 1:
		return o, errors.New("-flood-accounts must be at least 1")
	case slices.Contains(o.Phases, "flood") && o.Accounts < o.PageClients-1+o.FloodAccounts:
		return o, errors.New("-accounts must cover the page clients (less the demo patient) and the flood's accounts")
	}
	if o.Dir == "" {
		suffix := ""
		if *cheap {
			suffix = "-cheap"
		}
		o.Dir = filepath.Join(os.TempDir(), fmt.Sprintf("uroportal-signin-%dp-%da-seed%d%s", o.Patients, o.Accounts, o.Seed, suffix))
	}
	return o, nil
}

// server is a running `signin server` child process on its own copy of the
// data; stop, unlike Child.Stop, also removes the copy.
type server struct {
	*harness.Child
	ep  endpoint
	dir string
}

// startServer copies the prepared data to a fresh directory under tmp and
// starts a server process on it, so every phase starts from the same
// database.
func startServer(ctx context.Context, exe, tmp, name string, o options, stderr io.Writer) (*server, error) {
	dir := filepath.Join(tmp, name)
	if err := harness.CopyDir(o.Dir, dir); err != nil {
		return nil, fmt.Errorf("copy the prepared data: %w", err)
	}
	epFile := filepath.Join(tmp, name+".json")
	args := []string{"server", "-data", dir, "-addr", "127.0.0.1:0", "-endpoint-file", epFile, "-log-level", o.LogLevel}
	if o.ProfDir != "" {
		if err := os.MkdirAll(o.ProfDir, 0o755); err != nil {
			return nil, err
		}
		args = append(args, "-profile", filepath.Join(o.ProfDir, name))
	}
	s := &server{dir: dir}
	c, err := harness.StartChild(ctx, exe, args, epFile, &s.ep, stderr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.Child = c
	return s, nil
}

// stop ends the server with SIGTERM (SIGKILL after 30 s) and removes its
// data copy.
func (s *server) stop() error {
	defer os.RemoveAll(s.dir)
	return s.Stop()
}

// profile starts (true) or ends (false) a profiled window when profiling.
func (s *server) profile(o options, on bool) {
	if o.ProfDir == "" {
		return
	}
	sig := syscall.SIGUSR2
	if on {
		sig = syscall.SIGUSR1
	}
	s.Signal(sig)
}

// signinPhase measures sign-ins per second at each concurrency level, on
// one server.
func signinPhase(ctx context.Context, exe, tmp string, o options, accounts []benchAccount, stdout, stderr io.Writer) ([]string, error) {
	srv, err := startServer(ctx, exe, tmp, "signin", o, stderr)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	cl, err := newClients(srv.dir, srv.ep.Addr)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	// Every account signs in from one of o.SourceIPs addresses, always the
	// same, so no address goes past the per-address bucket's refill of one
	// a second and no address+account pair past one per 30 s.
	ips := make([]*http.Client, o.SourceIPs)
	for i := range ips {
		ips[i] = cl.client(sourceAddr(1, i), 256)
	}
	d := &dispenser{}
	for i, a := range accounts {
		d.accounts = append(d.accounts, &slot{benchAccount: a, client: ips[i%len(ips)]})
	}
	// Open each address's connection before measuring, so TLS handshakes
	// fall outside the windows.
	for _, hc := range ips {
		if _, err := do(ctx, hc, http.MethodGet, cl.base+"/signin", "", nil); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	fmt.Fprintf(stdout, "\nsign-in: POST /api/v1/auth/login, POST /api/v1/auth/mfa (TOTP), POST /api/v1/auth/logout; %d accounts over %d source addresses; %s warm-up + %s measured per level\n",
		len(accounts), o.SourceIPs, o.Warmup, o.Duration)
	var all []signinStats
	var wrong []string
	for i, c := range o.Levels {
		// The profile window opens with the measured window.
		if o.ProfDir != "" {
			time.AfterFunc(o.Warmup, func() { srv.profile(o, true) })
		}
		s, err := driveSignIns(ctx, cl.base, d, c, o.Warmup, o.Duration, srv)
		srv.profile(o, false)
		if err != nil {
			return wrong, err
		}
		printSignin(stdout, s)
		if s.RanOut {
			fmt.Fprintf(stdout, "  NOTE: the accounts ran out (each signs in once per 30 s TOTP step): this level is capped at %d/30 sign-ins/s; use more -accounts\n", len(accounts))
		}
		if o.ProfDir != "" {
			fmt.Fprintf(stdout, "  server profile: %s\n", filepath.Join(o.ProfDir, fmt.Sprintf("signin-%d.pprof", i+1)))
		}
		all = append(all, s)
		if s.Errors > 0 {
			wrong = append(wrong, fmt.Sprintf("sign-in, %d clients: %d failed, %v; first: %s", c, s.Errors, s.Statuses, s.FirstErr))
		}
	}
	fmt.Fprintf(stdout, "\nserver peak RSS %s\n\n", harness.MiB(srv.PeakRSS()))
	fmt.Fprintln(stdout, "| clients | sign-ins/s | login+MFA p50 | p99 | login p50 | MFA p50 | sign-out p50 | server CPU/sign-in | CPUs busy: server / driver / others | errors |")
	fmt.Fprintln(stdout, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range all {
		fmt.Fprintf(stdout, "| %d | %.1f | %s | %s | %s | %s | %s | %s | %s | %d |\n", s.Concurrency, s.rate(),
			ms(harness.Percentile(s.Total, 50)), ms(harness.Percentile(s.Total, 99)), ms(harness.Percentile(s.Login, 50)), ms(harness.Percentile(s.MFA, 50)),
			ms(harness.Percentile(s.Logout, 50)), cpuMS(s.CPUPerOp), cpus(s.CPU.Server)+" / "+cpus(s.CPU.Driver)+" / "+cpus(s.CPU.Others), s.Errors)
	}
	// Close the connections first: the server's graceful shutdown waits up
	// to 5 s for a connection that never sent a request (the transport
	// may have dialled one that was not needed).
	cl.close()
	if err := srv.stop(); err != nil {
		return wrong, fmt.Errorf("server: %w", err)
	}
	return wrong, nil
}

func printSignin(w io.Writer, s signinStats) {
	fmt.Fprintf(w, "%2d clients: %5d sign-ins in %.1fs = %.1f/s  login+MFA p50 %s p90 %s p99 %s max %s  (login p50 %s, MFA p50 %s, sign-out p50 %s)  server CPU/sign-in %s; CPUs busy: server %s, driver %s, other processes %s; waited for accounts %s; errors %d; load average %s\n",
		s.Concurrency, s.SignIns, s.Elapsed.Seconds(), s.rate(), ms(harness.Percentile(s.Total, 50)), ms(harness.Percentile(s.Total, 90)), ms(harness.Percentile(s.Total, 99)),
		ms(harness.Percentile(s.Total, 100)), ms(harness.Percentile(s.Login, 50)), ms(harness.Percentile(s.MFA, 50)), ms(harness.Percentile(s.Logout, 50)),
		cpuMS(s.CPUPerOp), cpus(s.CPU.Server), cpus(s.CPU.Driver), cpus(s.CPU.Others), s.Waited.Round(time.Millisecond), s.Errors, loadavg())
}

// floodPhase signs the page clients in, measures their pages without a
// flood, during one and (with -after) after it.
func floodPhase(ctx context.Context, exe, tmp string, o options, accounts []benchAccount, stdout, stderr io.Writer) ([]string, error) {
	srv, err := startServer(ctx, exe, tmp, "flood", o, stderr)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	cl, err := newClients(srv.dir, srv.ep.Addr)
	if err != nil {
		return nil, err
	}
	defer cl.close()

	// The page users: the demo patient, then bench accounts from the start
	// of the list, each from its own address (block 2); the flood's
	// targets are bench accounts from the end of the list.
	dp, err := demoPatient(srv.dir)
	if err != nil {
		return nil, err
	}
	type cred struct{ name, email, password, secret, patientID string }
	creds := []cred{{"demo patient", dp.Email, dp.Password, dp.TOTPSecret, dp.PatientID}}
	for i := 0; len(creds) < o.PageClients; i++ {
		a := accounts[i]
		creds = append(creds, cred{fmt.Sprintf("bench account %d", i), a.Email, a.Password, a.TOTPSecret, a.PatientID})
	}
	var users []*pageUser
	for k, c := range creds {
		hc := cl.client(sourceAddr(2, k), 1)
		tok, _, _, _, err := signInOnce(ctx, hc, cl.base, c.email, c.password, c.secret)
		if err != nil {
			return nil, fmt.Errorf("sign in %s: %w", c.name, err)
		}
		u := &pageUser{Name: c.name, Client: hc, Token: tok, PatientID: c.patientID}
		for _, kind := range pageKinds { // learn the table's size; warm the connection
			if err := fetchPage(ctx, cl.base, u, kind); err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
		}
		users = append(users, u)
	}
	var targets []string
	for i := range o.FloodAccounts {
		targets = append(targets, accounts[len(accounts)-1-i].Email)
	}
	rows := make([]string, len(users))
	for i, u := range users {
		rows[i] = strconv.Itoa(u.Rows)
	}
	mode := fmt.Sprintf("one request every %s each", o.PageInterval)
	if o.PageInterval == 0 {
		mode = "closed loop"
	}
	fmt.Fprintf(stdout, "\nflood: %d page clients (%s; results tables of %s rows), alternating %s and %s; flood of %d POST /api/v1/auth/login/s from one address with wrong passwords for %d accounts, %d connections at most; windows of %s\n",
		len(users), mode, strings.Join(rows, ", "), pageMe, pageResults, o.FloodRate, len(targets), o.FloodConns, o.Duration)

	floodClient := cl.client(sourceAddr(3, 0), o.FloodConns)
	var windows []pageStats
	window := func(name string, withFlood bool) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		warm := o.Warmup
		if withFlood {
			warm = o.FloodWarmup
		}
		start := time.Now()
		from, until := start.Add(warm), start.Add(warm+o.Duration)
		var fl *floodStats
		done := make(chan struct{})
		if withFlood {
			go func() {
				defer close(done)
				fl = flood(ctx, floodClient, cl.base, floodOptions{Rate: o.FloodRate, Conns: o.FloodConns, Targets: targets}, start, warm+o.Duration)
			}()
		} else {
			close(done)
		}
		var meter atomic.Pointer[cpuMeter]
		t := time.AfterFunc(warm, func() {
			meter.Store(startCPU(srv))
			srv.profile(o, true)
		})
		s := drivePages(ctx, cl.base, users, o.PageInterval, from, until)
		t.Stop()
		srv.profile(o, false)
		s.CPU = meter.Load().stop()
		<-done
		s.Window, s.Elapsed, s.Flood = name, time.Since(from), fl
		printPages(stdout, s)
		if o.ProfDir != "" {
			fmt.Fprintf(stdout, "  server profile: %s\n", filepath.Join(o.ProfDir, fmt.Sprintf("flood-%d.pprof", len(windows)+1)))
		}
		windows = append(windows, s)
		return nil
	}
	if err := window("no flood", false); err != nil {
		return nil, err
	}
	if err := window("flood", true); err != nil {
		return nil, err
	}
	if o.After {
		if err := window("after the flood", false); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(stdout, "\nserver peak RSS %s\n\n", harness.MiB(srv.PeakRSS()))
	printPageTable(stdout, windows)
	for _, w := range windows {
		if w.Flood != nil {
			fmt.Fprintln(stdout)
			printFloodTable(stdout, w.Flood, o)
		}
	}
	var wrong []string
	for _, w := range windows {
		if w.Errors > 0 {
			wrong = append(wrong, fmt.Sprintf("pages, %s: %d failed; first: %s", w.Window, w.Errors, w.FirstErr))
		}
	}
	// Close the connections first: the server's graceful shutdown waits up
	// to 5 s for a connection that never sent a request (the transport
	// may have dialled one that was not needed).
	cl.close()
	if err := srv.stop(); err != nil {
		return wrong, fmt.Errorf("server: %w", err)
	}
	return wrong, nil
}

func printPages(w io.Writer, s pageStats) {
	for _, k := range pageKinds {
		l := s.Latencies[k]
		fmt.Fprintf(w, "%-16s %-27s %5d requests  p50 %s  p90 %s  p99 %s  max %s\n", s.Window, k, len(l),
			ms(harness.Percentile(l, 50)), ms(harness.Percentile(l, 90)), ms(harness.Percentile(l, 99)), ms(harness.Percentile(l, 100)))
	}
	fmt.Fprintf(w, "%-16s errors %d; CPUs busy: server %s, driver %s, other processes %s; load average %s\n", s.Window, s.Errors,
		cpus(s.CPU.Server), cpus(s.CPU.Driver), cpus(s.CPU.Others), loadavg())
	if f := s.Flood; f != nil {
		fmt.Fprintf(w, "%-16s flood: %d due, %d sent, %d dropped, %d abandoned, %d connection errors; statuses %s; Retry-After %s\n",
			s.Window, f.Scheduled, f.Sent, f.Dropped, f.Abandoned, f.TransportE, statusCounts(f), retryAfters(f.RetryAfter))
	}
}

func statusCounts(f *floodStats) string {
	var codes []int
	for c := range f.ByStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", len(f.ByStatus[c]), c))
	}
	return strings.Join(parts, ", ")
}

func printPageTable(w io.Writer, windows []pageStats) {
	fmt.Fprintln(w, "| window | page | requests | p50 | p90 | p99 | max | errors | CPUs busy: server / driver / others |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range windows {
		for _, k := range pageKinds {
			l := s.Latencies[k]
			fmt.Fprintf(w, "| %s | `%s` | %d | %s | %s | %s | %s | %d | %s |\n", s.Window, k, len(l),
				ms(harness.Percentile(l, 50)), ms(harness.Percentile(l, 90)), ms(harness.Percentile(l, 99)), ms(harness.Percentile(l, 100)), s.Errors, cpus(s.CPU.Server)+" / "+cpus(s.CPU.Driver)+" / "+cpus(s.CPU.Others))
		}
	}
}

func printFloodTable(w io.Writer, f *floodStats, o options) {
	fmt.Fprintf(w, "Flood: %d requests due at %d/s over %s; %d sent (%.0f/s answered), %d never sent (every connection busy, backlog full), %d abandoned, %d connection errors.\n\n",
		f.Scheduled, o.FloodRate, (o.FloodWarmup + o.Duration), f.Sent, float64(len(f.Service))/max(f.Elapsed.Seconds(), 1e-9), f.Dropped, f.Abandoned, f.TransportE)
	fmt.Fprintln(w, "| flood answer | count | p50 | p99 | max |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	var codes []int
	for c := range f.ByStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		l := f.ByStatus[c]
		fmt.Fprintf(w, "| %d %s | %d | %s | %s | %s |\n", c, http.StatusText(c), len(l), ms(harness.Percentile(l, 50)), ms(harness.Percentile(l, 99)), ms(harness.Percentile(l, 100)))
	}
	fmt.Fprintf(w, "| all, from when due (driver queue included) | %d | %s | %s | %s |\n", len(f.Due), ms(harness.Percentile(f.Due, 50)), ms(harness.Percentile(f.Due, 99)), ms(harness.Percentile(f.Due, 100)))
	fmt.Fprintf(w, "\nRetry-After of the 429s: %s.\n", retryAfters(f.RetryAfter))
}

// retryAfters lists Retry-After values (seconds) by count, in order: the
// per-address bucket answers 1, a full hash queue 5, an address+account
// bucket up to 30.
func retryAfters(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s s ×%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
