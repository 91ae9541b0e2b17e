// Package passwords is the password policy of NIST SP 800-63B-4 (section
// 3.1.1.2) and OWASP ASVS 5.0 V6 at level 2: a minimum length of 15 code
// points when the password is the only factor and 8 once a second factor is
// enrolled, a maximum well above 64, any Unicode (NFKC-normalized, counted in
// code points), and no composition rules. Instead of rules, a password is
// refused when it is on a list of 100,000 common and breached passwords or
// contains a word an attacker would guess from the context: the user's name
// or email address, the practice's name, "urology" or "portal".
//
// Expiry and paste are not this package's business, and the policy has
// neither forced rotation nor a paste ban: NIST and ASVS ask for neither.
package passwords

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"uroportal/internal/fault"
)

const (
	// MinLengthSingleFactor is the minimum, in code points, when the
	// password is the only factor (NIST SP 800-63B-4: 15).
	MinLengthSingleFactor = 15
	// MinLengthMFA is the minimum once MFA is enrolled (NIST: 8).
	MinLengthMFA = 8
	// MaxLength is the maximum in code points after NFKC. NIST asks that at
	// least 64 be allowed; 256 leaves room for long passphrases.
	MaxLength = 256
	// MaxBytes caps the UTF-8 length after NFKC, which bounds the cost of
	// hashing. UTF-8 needs at most 4 bytes a code point, so a password within
	// MaxLength is always within MaxBytes; the cap states the bound anyway.
	MaxBytes = 4 * MaxLength
	// maxRawBytes refuses absurd input before it is normalized at all.
	maxRawBytes = 4 * MaxBytes
	// minContextWord is the shortest context word looked for: shorter
	// pieces (initials, "jo", "li") would refuse too many good passwords.
	minContextWord = 4
)

// Input is what Check needs.
type Input struct {
	Password    string
	MFAEnrolled bool     // 8-code-point minimum instead of 15
	Context     []string // practice name, the user's name(s), email address; "urology" and "portal" are always added
}

// The messages, one plain sentence each (the length one adds a tip). They are
// fixed text, never built from the password.
const (
	msgTooShortFmt = "Use at least %d characters. A few unrelated words make a long password that is easy to remember."
	msgTooLong     = "Use no more than 256 characters."
	msgCharacters  = "Remove tabs, line breaks and other invisible characters that cannot be typed on a keyboard."
	msgBlocked     = "This password is on a list of common or leaked passwords that attackers try first, so choose a different one."
	msgEmail       = "Leave your email address, and any part of it, out of your password."
	msgName        = "Leave names out of your password, including your own name and the practice's name."
	msgWordFmt     = "Leave the word '%s' out of your password."
)

// alwaysBlocked are context words for every user of this portal.
var alwaysBlocked = []string{"urology", "portal"}

// MinLength returns the minimum length in code points: 15, or 8 once MFA is
// enrolled.
func MinLength(mfa bool) int {
	if mfa {
		return MinLengthMFA
	}
	return MinLengthSingleFactor
}

// Check returns nil or a *fault.Error of kind fault.Invalid whose Msg is one
// plain-language sentence telling the user what to change. It never echoes
// the password.
//
// The password is checked in the form it is hashed in (NFKC, as
// identity.NormalizePassword). Surrounding spaces are kept in the hash but do
// not count towards the minimum, so padding "xK9#mQ" with nine spaces does
// not make it long enough; the maximum counts them.
func Check(in Input) error {
	pw := in.Password
	if len(pw) > maxRawBytes {
		return invalid(msgTooLong)
	}
	if !utf8.ValidString(pw) {
		return invalid(msgCharacters)
	}
	n := norm.NFKC.String(pw)
	// NIST allows every printing character and the space. What is refused is
	// what a person cannot type into a password box: control characters (NUL,
	// tab, line feed, DEL, the C1 range) and the Unicode line and paragraph
	// separators. They come from pasting or from clients that mangle input,
	// and a password holding them could not be typed again at the next
	// sign-in. Format characters such as the zero-width joiner stay: emoji
	// sequences need them.
	if strings.ContainsFunc(n, unprintable) {
		return invalid(msgCharacters)
	}
	if utf8.RuneCountInString(n) > MaxLength || len(n) > MaxBytes {
		return invalid(msgTooLong)
	}
	if min := MinLength(in.MFAEnrolled); utf8.RuneCountInString(strings.TrimSpace(n)) < min {
		return invalid(fmt.Sprintf(msgTooShortFmt, min))
	}
	if Blocked(n) {
		return invalid(msgBlocked)
	}
	if msg := contextWord(fold(n), in.Context); msg != "" {
		return invalid(msg)
	}
	return nil
}

func invalid(msg string) error { return fault.E(fault.Invalid, msg, nil) }

func unprintable(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }

// fold is the case-insensitive form used for the blocklist and context words.
// internal/genblocklist folds the list with the same function.
func fold(s string) string { return strings.ToLower(norm.NFKC.String(s)) }

// contextWord returns the message for a context word found in the folded
// password f, or "", looking for email addresses, then "urology" and
// "portal", then names. An entry holding '@' is an email address: the
// whole address, the part before the '@' and that part's pieces split at
// dots, dashes and the like are looked for. Any other entry is a name (the
// user's or the practice's; Input does not say which, so the message names
// both): the whole entry and its words. Only words of at least 4 code points
// count.
func contextWord(f string, ctx []string) string {
	hit := func(word string) bool {
		return utf8.RuneCountInString(word) >= minContextWord && strings.Contains(f, word)
	}
	anyHit := func(words []string) bool {
		for _, w := range words {
			if hit(w) {
				return true
			}
		}
		return false
	}
	// Email addresses first: an address often holds a name, and the message
	// about the address is the more specific one.
	for _, c := range ctx {
		c = strings.TrimSpace(fold(c))
		if at := strings.LastIndexByte(c, '@'); at >= 0 {
			local := c[:at]
			if hit(c) || hit(local) || anyHit(words(local)) {
				return msgEmail
			}
		}
	}
	// Then the fixed words, whose message says exactly what to remove even
	// when the practice's name contains them too.
	for _, w := range alwaysBlocked {
		if strings.Contains(f, w) {
			return fmt.Sprintf(msgWordFmt, w)
		}
	}
	for _, c := range ctx {
		c = strings.TrimSpace(fold(c))
		if !strings.Contains(c, "@") && (hit(c) || anyHit(words(c))) {
			return msgName
		}
	}
	return ""
}

// words splits s at everything that is not a letter, mark or digit: spaces in
// "Ana María López", the hyphen in "Smith-Jones", the dot in "john.smith".
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsMark(r) && !unicode.IsDigit(r)
	})
}
