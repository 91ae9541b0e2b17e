package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"uroportal/internal/keyring"
)

// KeyFileName is the audit key's file in the data directory.
const KeyFileName = "audit-key"

const keyFilePrefix = "uroportal-audit-key-v1:"

var keyAD = []byte("uroportal audit signing key")

// ErrNoKey means the audit key is missing where one must exist.
var ErrNoKey = errors.New("audit: no audit signing key")

// Wrapper wraps and unwraps a key with the key-encryption key.
type Wrapper interface {
	Wrap(ctx context.Context, plaintext, ad []byte) ([]byte, error)
	Unwrap(ctx context.Context, wrapped, ad []byte) ([]byte, error)
}

// Signer holds the audit key: an Ed25519 key that signs checkpoints, and a
// MAC key derived from it that seals each event. It lives outside the
// database (a file wrapped by the KEK), so someone who can write to the
// database cannot forge either.
type Signer struct {
	priv   ed25519.PrivateKey
	Public ed25519.PublicKey
	mac    []byte
	// ID names the key (a hash of the public key).
	ID string
}

// NewSigner makes a Signer from a 32-byte seed.
func NewSigner(seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit: a key seed is %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	m := hmac.New(sha256.New, seed)
	m.Write([]byte("uroportal audit event mac"))
	sum := sha256.Sum256(pub)
	return &Signer{priv: priv, Public: pub, mac: m.Sum(nil), ID: "ed25519:" + hex.EncodeToString(sum[:8])}, nil
}

func (s *Signer) sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

func (s *Signer) seal(enc []byte) []byte {
	m := hmac.New(sha256.New, s.mac)
	m.Write(enc)
	return m.Sum(nil)
}

// LoadSigner reads the audit key from path, unwrapping it with the KEK.
// When the file is missing and create is true (a log with no sealed
// events), it makes one with mode 0600.
func LoadSigner(ctx context.Context, path string, kek Wrapper, create bool) (*Signer, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		return createKey(ctx, path, kek)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w at %s: the audit log was sealed with a key that is not there; restore that file from your key backup (or set UROPORTAL_AUDIT_KEY_FILE)", ErrNoKey, path)
	case err != nil:
		return nil, fmt.Errorf("cannot read the audit key %s: %w", path, err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(string(b)), keyFilePrefix))
	if err != nil {
		return nil, fmt.Errorf("the audit key file %s is corrupted: restore it from your key backup", path)
	}
	seed, err := kek.Unwrap(ctx, raw, keyAD)
	if err != nil {
		return nil, fmt.Errorf("the audit key file %s does not open with this key-encryption key (corrupted, or from another installation): restore it from your key backup", path)
	}
	return NewSigner(seed)
}

func createKey(ctx context.Context, path string, kek Wrapper) (*Signer, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	wrapped, err := kek.Wrap(ctx, seed, keyAD)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := keyring.WriteKeyFile(path, keyFilePrefix, wrapped); err != nil {
		return nil, err
	}
	return NewSigner(seed)
}
