package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
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
)

// KEK is a key-encryption key: it wraps and unwraps data keys and never
// leaves its provider. The local providers below hold it in memory; an
// external KMS or HSM implements the same three methods.
type KEK interface {
	// ID names the key without revealing it, so a wrapped data key records
	// which KEK wrapped it.
	ID() string
	Wrap(ctx context.Context, plaintext, ad []byte) ([]byte, error)
	Unwrap(ctx context.Context, wrapped, ad []byte) ([]byte, error)
}

// KEKFileName is the key file's name in the data directory.
const KEKFileName = "kek"

const kekFilePrefix = "uroportal-kek-v1:"

// ErrWrongKEK means the KEK does not open the data keys in the database.
var ErrWrongKEK = errors.New("keyring: the key-encryption key does not match this database")

// ErrNoKEK means no KEK was found where one must exist.
var ErrNoKEK = errors.New("keyring: no key-encryption key")

// LocalKEK is a 256-bit AES-GCM key held in process memory.
type LocalKEK struct {
	id   string
	aead cipher.AEAD
}

// NewLocalKEK makes a KEK from 32 raw bytes.
func NewLocalKEK(key []byte) (*LocalKEK, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("keyring: a key-encryption key is 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// The ID is a hash of a derived value, never of the key itself.
	sum := sha256.Sum256(append([]byte("uroportal kek id\x00"), key...))
	return &LocalKEK{id: "local:" + hex.EncodeToString(sum[:6]), aead: aead}, nil
}

// ID implements KEK.
func (k *LocalKEK) ID() string { return k.id }

// Wrap implements KEK.
func (k *LocalKEK) Wrap(_ context.Context, plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, plaintext, ad), nil
}

// Unwrap implements KEK.
func (k *LocalKEK) Unwrap(_ context.Context, wrapped, ad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(wrapped) < n+k.aead.Overhead() {
		return nil, ErrWrongKEK
	}
	pt, err := k.aead.Open(nil, wrapped[:n], wrapped[n:], ad)
	if err != nil {
		return nil, ErrWrongKEK
	}
	return pt, nil
}

// KEKSource says where the local KEK comes from, in order of precedence:
// Value (UROPORTAL_KEK, base64), File (UROPORTAL_KEK_FILE), or the key file in
// DataDir.
type KEKSource struct {
	Value   string
	File    string
	DataDir string
}

// Path is the key file this source reads, or "" when the key is given inline.
func (s KEKSource) Path() string {
	switch {
	case s.Value != "":
		return ""
	case s.File != "":
		return s.File
	}
	return filepath.Join(s.DataDir, KEKFileName)
}

// Load returns the KEK. When the key file in the data directory is missing
// and create is true (a new installation), it generates one with mode 0600;
// otherwise a missing key is ErrNoKEK. A key given by the operator
// (UROPORTAL_KEK or UROPORTAL_KEK_FILE) is never created.
func (s KEKSource) Load(create bool) (*LocalKEK, error) {
	if s.Value != "" {
		key, err := decodeKEK(strings.TrimSpace(s.Value))
		if err != nil {
			return nil, fmt.Errorf("UROPORTAL_KEK is not a valid key (%v): it must be 32 random bytes in base64, e.g. from `head -c32 /dev/urandom | base64`", err)
		}
		return NewLocalKEK(key)
	}
	path := s.Path()
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create && s.File == "":
		return createKEKFile(path)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w at %s: restore that file from your key backup, or point UROPORTAL_KEK_FILE at it", ErrNoKEK, path)
	case err != nil:
		return nil, fmt.Errorf("cannot read the key file %s: %w", path, err)
	}
	key, err := decodeKEK(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("the key file %s is corrupted (%v): restore it from your key backup", path, err)
	}
	return NewLocalKEK(key)
}

func decodeKEK(s string) ([]byte, error) {
	s = strings.TrimPrefix(s, kekFilePrefix)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%d bytes instead of 32", len(key))
	}
	return key, nil
}

func createKEKFile(path string) (*LocalKEK, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := WriteKeyFile(path, kekFilePrefix, key); err != nil {
		return nil, err
	}
	return NewLocalKEK(key)
}

// WriteKeyFile creates a new key file (never overwriting one) holding
// prefix and the key in base64, readable by the owner only and synced to
// disk; on any failure it leaves no file behind.
func WriteKeyFile(path, prefix string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create the key file %s: %w (check that its directory is writable)", path, err)
	}
	_, err = f.WriteString(prefix + base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("cannot write the key file %s: %w", path, err)
	}
	return nil
}
