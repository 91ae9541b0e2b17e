package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Argon2Params are the argon2id cost parameters, stored with every hash so
// they can be raised later and old hashes upgraded at the next sign-in.
type Argon2Params struct {
	MemoryKiB uint32
	Passes    uint32
	Threads   uint8
}

// DefaultArgon2 is at least what NIST SP 800-63B and OWASP ask of argon2id:
// 64 MiB, 3 passes.
var DefaultArgon2 = Argon2Params{MemoryKiB: 64 * 1024, Passes: 3, Threads: 2}

const saltLen, hashLen = 16, 32

// NormalizePassword is the form a password is hashed in: NFKC, so the same
// passphrase typed on different keyboards matches.
func NormalizePassword(pw string) string { return norm.NFKC.String(pw) }

// HashPassword returns the PHC-format argon2id hash of pw.
func HashPassword(pw string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(NormalizePassword(pw)), salt, p.Passes, p.MemoryKiB, p.Threads, hashLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Passes, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

var errBadHash = errors.New("identity: malformed password hash")

// VerifyPassword reports whether pw matches encoded, and whether the hash
// was made with weaker parameters than want (so it should be rehashed).
func VerifyPassword(pw, encoded string, want Argon2Params) (ok, rehash bool, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, false, errBadHash
	}
	var version int
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Passes, &p.Threads); err != nil {
		return false, false, errBadHash
	}
	// Bounds keep a damaged row from asking for gigabytes or hours.
	if p.MemoryKiB < 8 || p.MemoryKiB > 1<<20 || p.Passes < 1 || p.Passes > 16 || p.Threads < 1 || p.Threads > 16 {
		return false, false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	sum, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(sum) == 0 {
		return false, false, errBadHash
	}
	got := argon2.IDKey([]byte(NormalizePassword(pw)), salt, p.Passes, p.MemoryKiB, p.Threads, uint32(len(sum)))
	ok = subtle.ConstantTimeCompare(got, sum) == 1
	rehash = p.MemoryKiB < want.MemoryKiB || p.Passes < want.Passes
	return ok, rehash, nil
}
