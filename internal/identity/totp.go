package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// RFC 6238 parameters: 6 digits, 30-second steps, one step of skew.
const (
	totpPeriod = 30
	totpSkew   = 1
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpStep finds the time step in [now-1, now+1] whose code matches, and
// reports it so the caller can refuse any step at or before the last one
// used (every code works once).
func totpStep(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(strings.ReplaceAll(code, " ", ""))
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	var found int64
	ok := 0
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := cur + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		// Compare every candidate, in constant time.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, 1
		}
	}
	return found, ok == 1
}

// TOTPCode returns the code for secret at t (tests and the demo use it).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}

// recoveryAlphabet avoids letters people confuse (0/O, 1/I/L).
const recoveryAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// newRecoveryCode returns a code like "K7Q2M-9XR4T" (about 50 bits).
func newRecoveryCode() string {
	b := make([]byte, 10)
	rand.Read(b)
	var sb strings.Builder
	for i, x := range b {
		if i == 5 {
			sb.WriteByte('-')
		}
		// 256 is not a multiple of 31; reject-sample to stay uniform.
		for int(x) >= 256-256%len(recoveryAlphabet) {
			var y [1]byte
			rand.Read(y[:])
			x = y[0]
		}
		sb.WriteByte(recoveryAlphabet[int(x)%len(recoveryAlphabet)])
	}
	return sb.String()
}

// normalizeRecovery accepts the code however it was typed.
func normalizeRecovery(code string) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(strings.ToUpper(strings.TrimSpace(code)))
}

// hashRecovery is the stored, keyed hash of a recovery code.
func hashRecovery(key []byte, userID, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write([]byte(normalizeRecovery(code)))
	return m.Sum(nil)
}

// validSecret reports whether s is a base32 TOTP secret of 128 bits or more.
func validSecret(s string) bool {
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(s))
	return err == nil && len(b) >= 16
}
