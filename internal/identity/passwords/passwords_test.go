package passwords

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"uroportal/internal/fault"
)

var (
	tooShort15 = fmt.Sprintf(msgTooShortFmt, 15)
	tooShort8  = fmt.Sprintf(msgTooShortFmt, 8)
)

// messages is every message Check can return. Check builds none from its
// input, so an error whose message is in this set cannot echo the password.
var messages = map[string]bool{
	tooShort15: true, tooShort8: true, msgTooLong: true, msgCharacters: true,
	msgBlocked: true, msgEmail: true, msgName: true,
	fmt.Sprintf(msgWordFmt, "urology"): true, fmt.Sprintf(msgWordFmt, "portal"): true,
}

// practice, name and email are the context of most cases below.
var ctx = []string{"Riverside Urology Associates", "Jane Q. Smith-Jones", "jane.smith@example.org"}

func TestCheck(t *testing.T) {
	passphrase64 := "correct horse 🐎 battery staple 🔋 purple monkey dishwasher 🍽️ ok!"
	family := "👩‍👩‍👧‍👦 picnic under the old oak tree"
	tests := []struct {
		name string
		pw   string
		mfa  bool
		ctx  []string
		want string // "" means accepted
	}{
		// Length, counted in code points after NFKC.
		{"14 code points, no MFA", "tuba lamp kiwi", false, ctx, tooShort15},
		{"15 code points, no MFA", "tuba lamp kiwis", false, ctx, ""},
		{"7 code points, MFA", "kiwitub", true, ctx, tooShort8},
		{"8 code points, MFA", "kiwitub!", true, ctx, ""},
		{"8 code points, no MFA", "kiwitub!", false, ctx, tooShort15},
		{"empty", "", false, nil, tooShort15},
		{"64-code-point passphrase with spaces and emoji", passphrase64, false, ctx, ""},
		{"emoji joined by zero-width joiners", family, false, ctx, ""},
		{"composed from combining marks: 15 after NFKC", strings.Repeat("e\u0301", 15), false, nil, ""},
		{"composed from combining marks: 14 after NFKC (28 typed)", strings.Repeat("e\u0301", 14), false, nil, tooShort15},
		{"full-width: 14 after NFKC", "ｔｕｂａ ｌａｍｐ ｋｉｗｉ", false, nil, tooShort15},
		{"full-width: 15 after NFKC", "ｔｕｂａ ｌａｍｐ ｋｉｗｉｓ", false, nil, ""},
		{"ligatures: 8 typed, 16 after NFKC", strings.Repeat("\ufb01", 7) + "!", false, nil, ""},
		{"surrounding spaces do not count towards the minimum", "xK9#mQ" + strings.Repeat(" ", 9), false, nil, tooShort15},
		{"only spaces", strings.Repeat(" ", 20), false, nil, tooShort15},
		{"inner spaces count", "a b c d e f g h", false, nil, ""},
		{"no composition rules: all lower case", "mauve tapestry drifting", false, nil, ""},
		{"non-Latin script", "Верблюд идёт по пустыне", false, nil, ""},
		{"256 code points", strings.Repeat("tuba lamp kiwi ", 17) + "x", false, nil, ""},
		{"257 code points", strings.Repeat("tuba lamp kiwi ", 17) + "xy", false, nil, msgTooLong},
		{"256 four-byte emoji: 1024 bytes", strings.Repeat("🐎", 256), false, nil, ""},
		{"257 four-byte emoji", strings.Repeat("🐎", 257), false, nil, msgTooLong},
		{"megabyte of input", strings.Repeat("a", 1<<20), false, nil, msgTooLong},
		{"NFKC expands past the maximum", strings.Repeat("\ufdfa", 15), false, nil, msgTooLong},

		// Characters that cannot be typed.
		{"NUL", "tuba lamp kiwis\x00", false, nil, msgCharacters},
		{"tab", "tuba\tlamp kiwis", false, nil, msgCharacters},
		{"line feed", "tuba lamp kiwis\n", false, nil, msgCharacters},
		{"DEL", "tuba lamp kiwis\x7f", false, nil, msgCharacters},
		{"C1 next line", "tuba lamp\u0085kiwis", false, nil, msgCharacters},
		{"line separator", "tuba lamp\u2028kiwis", false, nil, msgCharacters},
		{"invalid UTF-8", "tuba lamp kiwis\xff", false, nil, msgCharacters},
		{"no-break space is a space after NFKC", "tuba\u00a0lamp kiwis", false, nil, ""},

		// Blocklist: long enough, so only the list refuses them.
		{"top password of 19 characters", "qwertyuiopasdfghjkl", false, nil, msgBlocked},
		{"top password of 16 characters", "passwordpassword", false, nil, msgBlocked},
		{"keyboard walk", "1qaz2wsx3edc4rfv", false, nil, msgBlocked},
		{"repeated digits", "123123123123123", false, nil, msgBlocked},
		{"upper case", "QwertyuiopASDFGHJKL", false, nil, msgBlocked},
		{"full-width", "ｑｗｅｒｔｙｕｉｏｐａｓｄｆｇｈｊｋｌ", false, nil, msgBlocked},
		{"padded with spaces", "  passwordpassword  ", false, nil, msgBlocked},
		{"password, MFA", "password", true, nil, msgBlocked},
		{"iloveyou, MFA", "iloveyou", true, nil, msgBlocked},
		{"Password1, MFA", "Password1", true, nil, msgBlocked},

		// Context words.
		{"whole email address", "jane.smith@example.org rocks", false, ctx, msgEmail},
		{"email local part, other case", "JANE.SMITH is my login", false, ctx, msgEmail},
		{"piece of the email local part", "smithereens everywhere", false, ctx, msgEmail},
		{"surname only in the name", "tuba jones kiwi lamp", false, ctx, msgName},
		{"practice name word", "riverside tuba kiwi", false, ctx, msgName},
		{"practice name in full, spaces and case", "RIVERSIDE UROLOGY ASSOCIATES", false, ctx, msgWord("urology")},
		{"urology without context", "my urology tuba kiwi", false, nil, msgWord("urology")},
		{"portal without context", "tuba PORTAL kiwi lamp", false, nil, msgWord("portal")},
		{"portal inside a longer word", "teleportalgun123", false, nil, msgWord("portal")},
		{"full-width portal", "ｐｏｒｔａｌ tuba kiwi lamp", false, nil, msgWord("portal")},
		{"short name pieces are not looked for", "jolly lime tuba kiwi", false, []string{"Jo Li"}, ""},
		{"short name in full is", "jo li tuba kiwi lamp", false, []string{"Jo Li"}, msgName},
		{"short local part is not looked for", "annual tuba kiwi lamp", false, []string{"ann@example.org"}, ""},
		{"short local part in the whole address is", "ann@example.org tuba", false, []string{"ann@example.org"}, msgEmail},
		{"empty context entries", "tuba lamp kiwis", false, []string{"", "   "}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(Input{Password: tt.pw, MFAEnrolled: tt.mfa, Context: tt.ctx})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check refused it: %q", fault.Message(err))
				}
				return
			}
			msg := checkFault(t, tt.pw, err)
			if msg != tt.want {
				t.Errorf("message %q, want %q", msg, tt.want)
			}
		})
	}
	if n := utf8.RuneCountInString(norm.NFKC.String(passphrase64)); n != 64 {
		t.Errorf("the long passphrase has %d code points, want 64", n)
	}
}

// checkFault asserts err is a fault.Invalid with a fixed message that does
// not contain pw, and returns the message.
func checkFault(t testing.TB, pw string, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("Check accepted it")
	}
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Invalid {
		t.Fatalf("error %v is not a *fault.Error of kind Invalid", err)
	}
	if !messages[fe.Msg] {
		t.Fatalf("message %q is not one of the fixed messages", fe.Msg)
	}
	// A fixed message can contain the password only when the password is a
	// piece of the fixed text, like "password".
	if len(pw) >= 4 && strings.Contains(fe.Msg, pw) && !strings.Contains(fixedText(), pw) {
		t.Fatalf("message %q contains the password", fe.Msg)
	}
	return fe.Msg
}

func fixedText() string {
	var b strings.Builder
	for m := range messages {
		b.WriteString(m)
	}
	return b.String()
}

func msgWord(w string) string { return fmt.Sprintf(msgWordFmt, w) }

func TestMinLength(t *testing.T) {
	if got := MinLength(false); got != 15 {
		t.Errorf("MinLength(false) = %d, want 15", got)
	}
	if got := MinLength(true); got != 8 {
		t.Errorf("MinLength(true) = %d, want 8", got)
	}
	if MaxLength < 64 {
		t.Errorf("MaxLength = %d, NIST asks for at least 64", MaxLength)
	}
	if !strings.Contains(msgTooLong, strconv.Itoa(MaxLength)) {
		t.Errorf("%q does not state MaxLength %d", msgTooLong, MaxLength)
	}
}

func TestBlocked(t *testing.T) {
	tests := []struct {
		pw   string
		want bool
	}{
		{"password", true},
		{"PASSWORD", true},
		{"ｐａｓｓｗｏｒｄ", true},
		{"  password\u00a0", true},
		{"123456", true},
		{"qwertyuiopasdfghjkl", true},
		{"tuba lamp kiwis", false},
		{"pass word", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := Blocked(tt.pw); got != tt.want {
			t.Errorf("Blocked(%q) = %v, want %v", tt.pw, got, tt.want)
		}
	}
}

// TestBlocklistData checks the embedded file: enough entries, sorted and
// unique (binary search depends on it), and folded as Blocked folds its
// argument, so that a change to fold or to x/text's Unicode tables shows up
// here and not as passwords that slip through.
func TestBlocklistData(t *testing.T) {
	l := loadBlocklist()
	if n := BlocklistSize(); n < 100000 {
		t.Fatalf("BlocklistSize() = %d, want at least 100000", n)
	}
	prev := ""
	for i := range l.len() {
		e := l.at(i)
		switch {
		case e == "" || strings.Contains(e, "\n"):
			t.Fatalf("entry %d is empty or holds a newline", i)
		case i > 0 && e <= prev:
			t.Fatalf("entry %d %q does not sort after %q", i, e, prev)
		case fold(e) != e:
			t.Fatalf("entry %d %q is not folded (NFKC, lower case): regenerate the list", i, e)
		case !l.has(e):
			t.Fatalf("binary search misses entry %d %q", i, e)
		}
		prev = e
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "password", "tuba lamp kiwis", "correct horse 🐎 battery staple 🔋",
		"e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301", "\ufdfa\ufdfa", "ｐａｓｓｗｏｒｄ", "  xK9#mQ  ", "a\x00b", "\xff\xfe",
		"jane.smith@example.org!", "portal portal portal"} {
		f.Add(s, false, "Jane Smith")
		f.Add(s, true, "jane@example.org")
	}
	f.Fuzz(func(t *testing.T, pw string, mfa bool, context string) {
		err := Check(Input{Password: pw, MFAEnrolled: mfa, Context: []string{context}})
		if err != nil {
			checkFault(t, pw, err)
			return
		}
		n := norm.NFKC.String(pw)
		if got := utf8.RuneCountInString(strings.TrimSpace(n)); got < MinLength(mfa) {
			t.Fatalf("accepted %q: %d code points, under the minimum %d", pw, got, MinLength(mfa))
		}
		if utf8.RuneCountInString(n) > MaxLength || len(n) > MaxBytes || !utf8.ValidString(pw) {
			t.Fatalf("accepted %q: too long or not UTF-8", pw)
		}
		if Blocked(pw) {
			t.Fatalf("accepted %q, which is on the blocklist", pw)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	loadBlocklist()
	in := Input{Password: "correct horse 🐎 battery staple 🔋", Context: ctx}
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckBlocked(b *testing.B) {
	loadBlocklist()
	in := Input{Password: "qwertyuiopasdfghjkl", Context: ctx}
	b.ReportAllocs()
	for b.Loop() {
		if Check(in) == nil {
			b.Fatal("accepted a blocked password")
		}
	}
}

// BenchmarkLoadBlocklist is the one-time cost of the first Check; retained-B
// is what the loaded list keeps in memory.
func BenchmarkLoadBlocklist(b *testing.B) {
	b.ReportAllocs()
	var l *blocklist
	for b.Loop() {
		var err error
		if l, err = parseBlocklist(blocklistGz); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(l.text)+4*cap(l.start)), "retained-B") // text is exactly sized: see parseBlocklist
}
