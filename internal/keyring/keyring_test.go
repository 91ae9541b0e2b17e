package keyring_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"uroportal/internal/clock"
	"uroportal/internal/keyring"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

func testKEK(tb testing.TB) *keyring.LocalKEK {
	tb.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	k, err := keyring.NewLocalKEK(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustOpen(tb testing.TB, db *store.DB, kek keyring.KEK, clk clock.Clock) *keyring.Keyring {
	tb.Helper()
	kr, err := keyring.Open(context.Background(), db, kek, clk)
	if err != nil {
		tb.Fatalf("keyring.Open: %v", err)
	}
	return kr
}

func TestRoundTripAndBinding(t *testing.T) {
	ctx := context.Background()
	db := storetest.MustOpen(t, store.SQLite)
	kr := mustOpen(t, db, testKEK(t), clock.Real{})
	f := keyring.Field{Table: "patients", Column: "family_name", Row: "row-1"}
	ct, err := kr.Encrypt(ctx, f, []byte("Testperson"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("Testperson")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	pt, err := kr.Decrypt(ctx, f, ct)
	if err != nil || string(pt) != "Testperson" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
	ct2, _ := kr.Encrypt(ctx, f, []byte("Testperson"))
	if bytes.Equal(ct, ct2) {
		t.Fatal("two encryptions of one value are equal: nonces are not random")
	}

	moved := []keyring.Field{
		{Table: "patients", Column: "family_name", Row: "row-2"},
		{Table: "patients", Column: "given_name", Row: "row-1"},
		{Table: "lab_results", Column: "family_name", Row: "row-1"},
	}
	for _, m := range moved {
		if _, err := kr.Decrypt(ctx, m, ct); !errors.Is(err, keyring.ErrTampered) {
			t.Errorf("ciphertext of %v opened as %v: err = %v", f, m, err)
		}
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if pt, err := kr.Decrypt(ctx, f, bad); err == nil {
			t.Fatalf("flipping a bit of byte %d still decrypted to %q", i, pt)
		}
	}
	for _, n := range []int{0, 1, 5, 17, len(ct) - 1} {
		if _, err := kr.Decrypt(ctx, f, ct[:n]); err == nil {
			t.Fatalf("a ciphertext cut to %d bytes decrypted", n)
		}
	}
	// The error names the field but never the plaintext.
	_, err = kr.Decrypt(ctx, moved[0], ct)
	if strings.Contains(err.Error(), "Testperson") {
		t.Fatalf("error carries plaintext: %v", err)
	}
}

func TestBlindIndex(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	kr := mustOpen(t, db, testKEK(t), clock.Real{})
	a := kr.BlindIndex("mrn", "MRN-0001")
	if !bytes.Equal(a, kr.BlindIndex("mrn", "MRN-0001")) {
		t.Fatal("blind index is not deterministic")
	}
	if bytes.Equal(a, kr.BlindIndex("email", "MRN-0001")) {
		t.Fatal("blind index domains are not separated")
	}
	if bytes.Equal(a, kr.BlindIndex("mrn", "MRN-0002")) {
		t.Fatal("different values share an index")
	}
	other := mustOpen(t, storetest.MustOpen(t, store.SQLite), testKEK(t), clock.Real{})
	if bytes.Equal(a, other.BlindIndex("mrn", "MRN-0001")) {
		t.Fatal("two installations share a blind-index key")
	}
}

func TestWrongKEKRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		mustOpen(t, db, testKEK(t), clock.Real{})
		_, err := keyring.Open(context.Background(), db, testKEK(t), clock.Real{})
		if !errors.Is(err, keyring.ErrWrongKEK) {
			t.Fatalf("Open with another KEK = %v, want ErrWrongKEK", err)
		}
	})
}

func TestKEKSource(t *testing.T) {
	dir := t.TempDir()
	src := keyring.KEKSource{DataDir: dir}
	if _, err := src.Load(false); !errors.Is(err, keyring.ErrNoKEK) {
		t.Fatalf("Load(create=false) on an empty dir = %v, want ErrNoKEK", err)
	}
	k1, err := src.Load(true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, keyring.KEKFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	k2, err := src.Load(true)
	if err != nil || k1.ID() != k2.ID() {
		t.Fatalf("second Load made a new key (%s vs %s, %v)", k1.ID(), k2.ID(), err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, keyring.KEKFileName))
	if strings.Contains(k1.ID(), strings.TrimSpace(string(b))) {
		t.Fatal("the key ID reveals the key")
	}

	for name, content := range map[string]string{
		"garbage":   "not a key at all\n",
		"short":     "uroportal-kek-v1:" + base64.StdEncoding.EncodeToString(make([]byte, 16)),
		"truncated": string(b[:len(b)/2]),
	} {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, keyring.KEKFileName), []byte(content), 0o600)
			_, err := keyring.KEKSource{DataDir: d}.Load(true)
			if err == nil || !strings.Contains(err.Error(), "corrupted") {
				t.Fatalf("Load of a %s key file = %v", name, err)
			}
			after, _ := os.ReadFile(filepath.Join(d, keyring.KEKFileName))
			if string(after) != content {
				t.Fatal("a corrupted key file was overwritten")
			}
		})
	}

	raw := make([]byte, 32)
	rand.Read(raw)
	env := keyring.KEKSource{Value: base64.StdEncoding.EncodeToString(raw), DataDir: t.TempDir()}
	if _, err := env.Load(true); err != nil {
		t.Fatalf("UROPORTAL_KEK: %v", err)
	}
	if _, err := (keyring.KEKSource{Value: "c2hvcnQ=", DataDir: dir}).Load(true); err == nil {
		t.Fatal("a short UROPORTAL_KEK was accepted")
	}
	// An operator's key file is never created for them.
	missing := keyring.KEKSource{File: filepath.Join(t.TempDir(), "nope"), DataDir: dir}
	if _, err := missing.Load(true); !errors.Is(err, keyring.ErrNoKEK) {
		t.Fatalf("missing UROPORTAL_KEK_FILE = %v, want ErrNoKEK", err)
	}
}

// testTable is a stand-in PHI table the rotation tests own.
var testTable = keyring.Table{Name: "kr_test", Columns: []string{"a", "b"}}

func fillTestTable(t *testing.T, db *store.DB, kr *keyring.Keyring, n int) map[string][2]string {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE kr_test (id TEXT PRIMARY KEY, a BYTEA NOT NULL, b BYTEA)`); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{}
	for i := range n {
		id := fmt.Sprintf("row-%04d", i)
		r := kr.Row(ctx, "kr_test", id)
		a, b := fmt.Sprintf("alpha %d", i), fmt.Sprintf("beta %d", i)
		var bct []byte
		if i%7 != 0 { // some NULLs
			bct = r.Seal("b", b)
		} else {
			b = ""
		}
		act := r.Seal("a", a)
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO kr_test (id, a, b) VALUES ($1, $2, $3)`, id, act, bct); err != nil {
			t.Fatal(err)
		}
		want[id] = [2]string{a, b}
	}
	return want
}

func checkTestTable(t *testing.T, db *store.DB, kr *keyring.Keyring, want map[string][2]string, version uint32) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT id, a, b FROM kr_test`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var a, b []byte
		if err := rows.Scan(&id, &a, &b); err != nil {
			t.Fatal(err)
		}
		r := kr.Row(ctx, "kr_test", id)
		got := [2]string{r.Open("a", a), ""}
		if b != nil {
			got[1] = r.Open("b", b)
		}
		if r.Err() != nil || got != want[id] {
			t.Fatalf("row %s = %q, %v; want %q", id, got, r.Err(), want[id])
		}
		for _, ct := range [][]byte{a, b} {
			if ct == nil {
				continue
			}
			if v, _ := keyring.Version(ct); version != 0 && v != version {
				t.Fatalf("row %s under key version %d, want %d", id, v, version)
			}
		}
		n++
	}
	if n != len(want) {
		t.Fatalf("read %d rows, want %d", n, len(want))
	}
}

func TestRotateRewrapRetire(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kek := testKEK(t)
		kr := mustOpen(t, db, kek, clock.Real{})
		want := fillTestTable(t, db, kr, 450)
		old := kr.Primary()
		tables := []keyring.Table{testTable}

		v2, err := kr.Rotate(ctx)
		if err != nil || v2 == old || kr.Primary() != v2 {
			t.Fatalf("Rotate = %d, %v (old %d, primary %d)", v2, err, old, kr.Primary())
		}
		if err := kr.Retire(ctx, tables, old); err == nil || !strings.Contains(err.Error(), "rewrap") {
			t.Fatalf("Retire of a version still in use = %v", err)
		}
		if err := kr.Retire(ctx, tables, v2); err == nil {
			t.Fatal("Retire of the primary succeeded")
		}
		var last [2]int64
		n, err := kr.Rewrap(ctx, tables, keyring.RewrapOptions{Batch: 64, Progress: func(d, tot int64) { last = [2]int64{d, tot} }})
		if err != nil {
			t.Fatal(err)
		}
		nonNull := int64(0)
		for _, w := range want {
			nonNull++
			if w[1] != "" {
				nonNull++
			}
		}
		if n != nonNull {
			t.Fatalf("Rewrap rewrapped %d fields, want %d", n, nonNull)
		}
		if last != [2]int64{450, 450} {
			t.Fatalf("last progress = %v, want [450 450]", last)
		}
		checkTestTable(t, db, kr, want, v2)
		st, err := kr.Status(ctx, tables)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range st {
			if k.Version == old && k.Fields != 0 || k.Version == v2 && k.Fields != nonNull {
				t.Fatalf("status %+v", k)
			}
		}
		if err := kr.Retire(ctx, tables, old); err != nil {
			t.Fatalf("Retire after rewrap: %v", err)
		}
		var wrapped []byte
		db.QueryRowContext(ctx, `SELECT wrapped FROM data_keys WHERE version = $1`, int64(old)).Scan(&wrapped)
		if wrapped != nil {
			t.Fatal("a retired key's material was kept")
		}
		// A fresh process (another node) still reads everything.
		kr2, err := keyring.Open(ctx, db, kek, clock.Real{})
		if err != nil {
			t.Fatal(err)
		}
		checkTestTable(t, db, kr2, want, v2)
	})
}

func TestRewrapResumesAfterCrash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		kek := testKEK(t)
		kr := mustOpen(t, db, kek, clock.Real{})
		want := fillTestTable(t, db, kr, 300)
		tables := []keyring.Table{testTable}
		v2, _ := kr.Rotate(context.Background())

		ctx, crash := context.WithCancel(context.Background())
		_, err := kr.Rewrap(ctx, tables, keyring.RewrapOptions{Batch: 50, Progress: func(done, _ int64) {
			if done >= 100 {
				crash()
			}
		}})
		if err == nil {
			t.Fatal("the interrupted rewrap reported success")
		}
		// A new process resumes from its record, not from the start.
		kr2 := mustOpen(t, db, kek, clock.Real{})
		var first int64 = -1
		n, err := kr2.Rewrap(context.Background(), tables, keyring.RewrapOptions{Batch: 50, Progress: func(done, _ int64) {
			if first < 0 {
				first = done
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if first < 100 {
			t.Fatalf("resumed run reported %d rows done first; want it to start past the 100 already done", first)
		}
		if n == 0 {
			t.Fatal("resumed run rewrapped nothing")
		}
		checkTestTable(t, db, kr2, want, v2)
	})
}

func TestTwoNodesSeeRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kek := testKEK(t)
		clk := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
		a := mustOpen(t, db, kek, clk)
		b := mustOpen(t, db, kek, clk)
		v2, err := b.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f := keyring.Field{Table: "t", Column: "c", Row: "r"}
		ct, _ := b.Encrypt(ctx, f, []byte("x"))
		if pt, err := a.Decrypt(ctx, f, ct); err != nil || string(pt) != "x" {
			t.Fatalf("node A cannot read node B's new-key ciphertext: %v", err)
		}
		clk.Advance(time.Minute)
		ct, _ = a.Encrypt(ctx, f, []byte("y"))
		if v, _ := keyring.Version(ct); v != v2 {
			t.Fatalf("node A still seals under %d after the refresh interval; want %d", v, v2)
		}
	})
}

func BenchmarkEncrypt(b *testing.B) {
	kr := mustOpen(b, storetest.MustOpen(b, store.SQLite), testKEK(b), clock.Real{})
	f := keyring.Field{Table: "lab_results", Column: "value", Row: "0190f1d2-7c1e-4b7f-9f7e-2b1f0e3c4d5a"}
	pt := []byte("4.7")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Encrypt(ctx, f, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	kr := mustOpen(b, storetest.MustOpen(b, store.SQLite), testKEK(b), clock.Real{})
	f := keyring.Field{Table: "lab_results", Column: "value", Row: "0190f1d2-7c1e-4b7f-9f7e-2b1f0e3c4d5a"}
	ctx := context.Background()
	ct, _ := kr.Encrypt(ctx, f, []byte("4.7"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Decrypt(ctx, f, ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	kr := mustOpen(b, storetest.MustOpen(b, store.SQLite), testKEK(b), clock.Real{})
	b.ReportAllocs()
	for b.Loop() {
		kr.BlindIndex("mrn", "UP-000123")
	}
}
