// Package keyring is Uroportal's envelope encryption. Every PHI field is
// sealed with AES-256-GCM under a versioned 256-bit data key; data keys are
// stored only wrapped by a key-encryption key (KEK) from a provider. Each
// ciphertext names its format and key version in front, and its associated
// data binds it to one table, column and row, so a ciphertext copied
// elsewhere does not open. A separate key feeds a keyed blind index
// (HMAC-SHA-256) for exact-match lookups of encrypted identifiers.
package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/store"
)

const (
	formatV1   byte = 1
	headerLen       = 1 + 4 // format byte, key version
	nonceLen        = 12
	keyLen          = 32
	purposeFld      = "field"
	purposeIdx      = "index"
)

// refreshEvery bounds how long a node keeps sealing under a primary that
// another process has rotated away from.
const refreshEvery = 10 * time.Second

// ErrTampered means a ciphertext failed authentication: altered, moved to
// another row or column, or truncated. It carries no PHI.
var ErrTampered = errors.New("keyring: ciphertext failed authentication")

// Field names where a ciphertext lives. It is the associated data of the
// encryption, so the ciphertext only opens in that place.
type Field struct {
	Table, Column, Row string
}

func (f Field) String() string { return f.Table + "." + f.Column + "[" + f.Row + "]" }

// Keyring holds the unwrapped data keys of one database.
type Keyring struct {
	db    *store.DB
	kek   KEK
	clock clock.Clock

	mu       sync.RWMutex
	field    map[uint32]cipher.AEAD
	primary  uint32
	index    []byte
	loadedAt time.Time

	// Figures for /metrics.
	Encrypts, Decrypts, Failures atomic.Uint64
}

// Open loads the data keys of db, unwrapping them with kek. On a database
// with no keys it creates the first field key and the index key.
func Open(ctx context.Context, db *store.DB, kek KEK, clk clock.Clock) (*Keyring, error) {
	k := &Keyring{db: db, kek: kek, clock: clk}
	n, err := CountKeys(ctx, db)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		if err := k.create(ctx); err != nil && !store.IsUniqueViolation(err) {
			// A unique violation means another node created them first.
			return nil, err
		}
	}
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// CountKeys reports how many data keys the database holds; a new
// installation has none.
func CountKeys(ctx context.Context, db *store.DB) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM data_keys`).Scan(&n); err != nil {
		return 0, fmt.Errorf("keyring: count data keys: %w", err)
	}
	return n, nil
}

func (k *Keyring) create(ctx context.Context) error {
	return k.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := k.insertKey(ctx, tx, purposeFld); err != nil {
			return err
		}
		_, err := k.insertKey(ctx, tx, purposeIdx)
		return err
	})
}

// insertKey makes a new primary key of the purpose, demoting the old one.
func (k *Keyring) insertKey(ctx context.Context, tx *sql.Tx, purpose string) (uint32, error) {
	var max sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(version) FROM data_keys`).Scan(&max); err != nil {
		return 0, err
	}
	version := uint32(max.Int64 + 1)
	raw := make([]byte, keyLen)
	if _, err := rand.Read(raw); err != nil {
		return 0, err
	}
	wrapped, err := k.kek.Wrap(ctx, raw, wrapAD(purpose, version))
	if err != nil {
		return 0, fmt.Errorf("keyring: wrap data key: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET state = 'active' WHERE purpose = $1 AND state = 'primary'`, purpose); err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO data_keys (version, purpose, state, wrapped, kek_id, created_at) VALUES ($1, $2, 'primary', $3, $4, $5)`,
		int64(version), purpose, wrapped, k.kek.ID(), k.clock.Now().UnixMilli())
	return version, err
}

func wrapAD(purpose string, version uint32) []byte {
	return []byte("uroportal data key\x00" + purpose + "\x00" + strconv.FormatUint(uint64(version), 10))
}

// load reads and unwraps every usable key.
func (k *Keyring) load(ctx context.Context) error {
	rows, err := k.db.QueryContext(ctx, `SELECT version, purpose, state, wrapped FROM data_keys WHERE state <> 'retired' ORDER BY version`)
	if err != nil {
		return fmt.Errorf("keyring: read data keys: %w", err)
	}
	defer rows.Close()
	field := map[uint32]cipher.AEAD{}
	var primary uint32
	var index []byte
	for rows.Next() {
		var v int64
		var purpose, state string
		var wrapped []byte
		if err := rows.Scan(&v, &purpose, &state, &wrapped); err != nil {
			return err
		}
		raw, err := k.kek.Unwrap(ctx, wrapped, wrapAD(purpose, uint32(v)))
		if err != nil {
			return fmt.Errorf("%w: it cannot unwrap data key version %d; start with the key-encryption key this database was created with (the kek file in the data directory, UROPORTAL_KEK_FILE or UROPORTAL_KEK)", ErrWrongKEK, v)
		}
		switch purpose {
		case purposeFld:
			aead, err := newAEAD(raw)
			if err != nil {
				return err
			}
			field[uint32(v)] = aead
			if state == "primary" {
				primary = uint32(v)
			}
		case purposeIdx:
			if state == "primary" {
				index = raw
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if primary == 0 || index == nil {
		return errors.New("keyring: the database has no primary data key; it may be damaged — restore from backup")
	}
	k.mu.Lock()
	k.field, k.primary, k.index, k.loadedAt = field, primary, index, k.clock.Now()
	k.mu.Unlock()
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// primaryKey returns the key new ciphertexts use, reloading now and then so a
// rotation by another process takes effect here too.
func (k *Keyring) primaryKey(ctx context.Context) (uint32, cipher.AEAD, error) {
	k.mu.RLock()
	stale := k.clock.Now().Sub(k.loadedAt) > refreshEvery
	v, aead := k.primary, k.field[k.primary]
	k.mu.RUnlock()
	if !stale {
		return v, aead, nil
	}
	if err := k.load(ctx); err != nil {
		return 0, nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary, k.field[k.primary], nil
}

func (k *Keyring) keyFor(ctx context.Context, version uint32) (cipher.AEAD, error) {
	k.mu.RLock()
	aead := k.field[version]
	k.mu.RUnlock()
	if aead != nil {
		return aead, nil
	}
	// A version this process has not seen: another process rotated.
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	k.mu.RLock()
	aead = k.field[version]
	k.mu.RUnlock()
	if aead == nil {
		return nil, fmt.Errorf("keyring: no data key version %d (retired or never made)", version)
	}
	return aead, nil
}

func fieldAD(header []byte, f Field) []byte {
	ad := make([]byte, 0, 24+len(header)+len(f.Table)+len(f.Column)+len(f.Row))
	ad = append(ad, "uroportal field\x00"...)
	ad = append(ad, header...)
	ad = append(ad, f.Table...)
	ad = append(ad, 0)
	ad = append(ad, f.Column...)
	ad = append(ad, 0)
	return append(ad, f.Row...)
}

// Encrypt seals plaintext for field f under the primary key.
func (k *Keyring) Encrypt(ctx context.Context, f Field, plaintext []byte) ([]byte, error) {
	v, aead, err := k.primaryKey(ctx)
	if err != nil {
		return nil, err
	}
	return k.seal(v, aead, f, plaintext)
}

func (k *Keyring) seal(v uint32, aead cipher.AEAD, f Field, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plaintext)+aead.Overhead())
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:headerLen], v)
	if _, err := rand.Read(out[headerLen:]); err != nil {
		return nil, err
	}
	k.Encrypts.Add(1)
	return aead.Seal(out, out[headerLen:], plaintext, fieldAD(out[:headerLen], f)), nil
}

// Decrypt opens a ciphertext made by Encrypt for the same field. A ciphertext
// that was altered or moved fails with ErrTampered (kind Internal): it is
// never returned as garbage.
func (k *Keyring) Decrypt(ctx context.Context, f Field, ct []byte) ([]byte, error) {
	v, err := Version(ct)
	if err != nil {
		k.Failures.Add(1)
		return nil, fault.E(fault.Internal, "", fmt.Errorf("%w: %s: %v", ErrTampered, f, err))
	}
	aead, err := k.keyFor(ctx, v)
	if err != nil {
		k.Failures.Add(1)
		return nil, fault.E(fault.Internal, "", fmt.Errorf("keyring: %s: %w", f, err))
	}
	body := ct[headerLen:]
	pt, err := aead.Open(nil, body[:nonceLen], body[nonceLen:], fieldAD(ct[:headerLen], f))
	if err != nil {
		k.Failures.Add(1)
		return nil, fault.E(fault.Internal, "", fmt.Errorf("%w: %s", ErrTampered, f))
	}
	k.Decrypts.Add(1)
	return pt, nil
}

// Version returns the key version a ciphertext was sealed under.
func Version(ct []byte) (uint32, error) {
	if len(ct) < headerLen+nonceLen+16 {
		return 0, errors.New("too short")
	}
	if ct[0] != formatV1 {
		return 0, fmt.Errorf("unknown format %d", ct[0])
	}
	return binary.BigEndian.Uint32(ct[1:headerLen]), nil
}

// BlindIndex returns a keyed HMAC-SHA-256 of value for exact-match lookup.
// domain separates kinds of identifier (an MRN and an email with the same
// text get different indexes). Normalize value before calling.
func (k *Keyring) BlindIndex(domain, value string) []byte {
	k.mu.RLock()
	key := k.index
	k.mu.RUnlock()
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// Primary reports the current primary field-key version.
func (k *Keyring) Primary() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary
}

// Ready reports whether keys are loaded; /readyz uses it.
func (k *Keyring) Ready(context.Context) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.primary == 0 || k.index == nil {
		return errors.New("keys not loaded")
	}
	return nil
}

// DeriveKey returns a 256-bit key for purpose (e.g. "csrf"), the same on
// every node sharing this database, derived from the blind-index key with
// HMAC-SHA-256 and a distinct label, so it never equals an index value.
func (k *Keyring) DeriveKey(purpose string) []byte {
	k.mu.RLock()
	key := k.index
	k.mu.RUnlock()
	m := hmac.New(sha256.New, key)
	m.Write([]byte("uroportal derived key\x00"))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
