package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the end-to-end test re-execute this test binary as the
// benchmark's server process, as `signin run` re-executes `signin`.
func TestMain(m *testing.M) { command.TestMain(m) }

func TestSourceAddr(t *testing.T) {
	seen := map[string]bool{}
	for b := 1; b <= 3; b++ {
		for n := range 600 {
			a := sourceAddr(b*10, n)
			if !a.IsLoopback() || a.As4()[3] == 0 || a.As4()[3] == 255 {
				t.Fatalf("sourceAddr(%d, %d) = %s", b*10, n, a)
			}
			if seen[a.String()] {
				t.Fatalf("sourceAddr(%d, %d) = %s twice", b*10, n, a)
			}
			seen[a.String()] = true
		}
	}
}

// The dispenser never hands out an account twice in one TOTP step, and
// gives up at the deadline rather than wait past it.
func TestDispenser(t *testing.T) {
	d := &dispenser{accounts: []*slot{{benchAccount: benchAccount{Email: "a"}}, {benchAccount: benchAccount{Email: "b"}}}}
	step := time.Now().Unix() / totpPeriod
	ctx := context.Background()
	soon := time.Now().Add(10 * time.Millisecond)
	a := d.take(ctx, soon)
	b := d.take(ctx, soon)
	if a == nil || b == nil || a == b {
		t.Fatalf("took %v and %v", a, b)
	}
	d.release(a, step)
	d.release(b, step)
	// Both used in this step (or the next began, when a later step is
	// fine): a third take either finds none before the deadline or is in
	// a later step.
	if c := d.take(ctx, soon); c != nil && time.Now().Unix()/totpPeriod == step {
		t.Fatalf("%s handed out twice in step %d", c.Email, step)
	} else if c == nil && !d.ranOut.Load() {
		t.Fatal("take gave up without saying the accounts ran out")
	}
}

// TestEndToEnd runs both phases for a moment through real server processes
// on tiny data with a cheap hash: every sign-in and page must be right (the
// driver fails otherwise), and the flood from one address must be turned
// away with 429 after at most the address+account burst (10) reached
// password checking.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	var out, errOut bytes.Buffer
	err := run([]string{"-cheap-argon2", "-data", t.TempDir() + "/data", "-patients", "3", "-accounts", "12",
		"-concurrency", "1", "-warmup", "0s", "-duration", "200ms", "-source-ips", "4",
		"-page-clients", "2", "-flood-rate", "100", "-flood-warmup", "0s", "-flood-accounts", "1", "-after=false"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"| 1 | ", "| no flood | `GET /api/v1/me` |", "| flood | `GET /patients/{id}/results` |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	count := func(status string) int {
		m := regexp.MustCompile(`\| ` + status + ` \| (\d+) \|`).FindStringSubmatch(out.String())
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if n := count("429 Too Many Requests"); n == 0 {
		t.Errorf("no flood request was refused with 429:\n%s", out.String())
	}
	if n := count("401 Unauthorized"); n > 10+1 {
		t.Errorf("%d flood requests had their password checked; the address+account bucket allows 10:\n%s", n, out.String())
	}
}
