package passwords

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

//go:generate go run ./internal/genblocklist -in=${PWLIST_SRC} -out=blocklist.txt.gz

// blocklistGz is the 100,000 most common passwords of the OWASP SecLists
// "10 million password list", folded (NFKC, lower case), sorted, one per
// line, gzip-compressed. README.md says where it comes from and how to
// rebuild it; its license is CC BY-SA 3.0, not the project's.
//
//go:embed blocklist.txt.gz
var blocklistGz []byte

// blocklist is the decompressed list: every entry followed by '\n' in one
// string, and the start of each entry. About 0.8 MB of text plus 0.4 MB of
// offsets, where a []string would add 1.6 MB of string headers.
type blocklist struct {
	text  string
	start []uint32 // start[i] is where entry i begins; len(start) = entries+1
}

func (l *blocklist) len() int { return len(l.start) - 1 }

// at returns entry i without its newline.
func (l *blocklist) at(i int) string { return l.text[l.start[i] : l.start[i+1]-1] }

func (l *blocklist) has(s string) bool {
	n := l.len()
	i := sort.Search(n, func(i int) bool { return l.at(i) >= s })
	return i < n && l.at(i) == s
}

// loadBlocklist decompresses the embedded list once, on first use, so
// programs that never check a password do not pay for it.
var loadBlocklist = sync.OnceValue(func() *blocklist {
	l, err := parseBlocklist(blocklistGz)
	if err != nil {
		// The data is compiled in and checked by TestBlocklistData; failing
		// open (accepting every password) would be worse than failing loud.
		panic(fmt.Sprintf("passwords: embedded blocklist: %v", err))
	}
	return l
})

func parseBlocklist(gz []byte) (*blocklist, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	if len(gz) >= 4 {
		// The gzip trailer holds the decompressed size (mod 2^32): allocate
		// exactly once. It is only a hint; io.Copy grows past a wrong one.
		sb.Grow(int(min(binary.LittleEndian.Uint32(gz[len(gz)-4:]), 64<<20)))
	}
	if _, err := io.Copy(&sb, zr); err != nil {
		return nil, err
	}
	if err := zr.Close(); err != nil {
		return nil, err
	}
	text := sb.String()
	if text == "" || !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("empty or not newline-terminated")
	}
	l := &blocklist{text: text, start: make([]uint32, 1, strings.Count(text, "\n")+1)}
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			l.start = append(l.start, uint32(i+1))
		}
	}
	return l, nil
}

// Blocked reports whether pw, after NFKC normalization and lower-casing, is
// on the blocklist, either as given or with surrounding spaces trimmed.
func Blocked(pw string) bool {
	l := loadBlocklist()
	f := fold(pw)
	if l.has(f) {
		return true
	}
	t := strings.TrimSpace(f)
	return t != f && l.has(t)
}

// BlocklistSize is the number of entries embedded.
func BlocklistSize() int { return loadBlocklist().len() }
