// Package identity holds user accounts: one per person, random IDs never
// reused, the sign-in email encrypted with a blind index for lookup, and
// passwords hashed with argon2id.
package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	"uroportal/internal/access"
	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/keyring"
	"uroportal/internal/store"
)

// User is an account.
type User struct {
	ID        string
	Email     string
	Name      string
	Role      access.Role
	PatientID string // the patient's own record, for the patient role
}

// LogValue keeps a user to its ID and role in logs.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", u.ID), slog.String("role", string(u.Role)))
}

// EncryptedTables lists this package's encrypted columns.
var EncryptedTables = []keyring.Table{{Name: "users", Columns: []string{"email", "name", "totp_secret", "totp_pending"}}}

const indexEmail = "users.email"

// NormalizeEmail is the form an email is indexed in.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Store keeps accounts.
type Store struct {
	DB     *store.DB
	Keys   *keyring.Keyring
	Clock  clock.Clock
	Argon2 Argon2Params
}

// NewTOTPSecret returns a random 160-bit TOTP secret in base32 (RFC 6238).
func NewTOTPSecret() string {
	b := make([]byte, 20)
	rand.Read(b)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// Create adds an account inside tx. totpSecret may be empty.
func (s *Store) Create(ctx context.Context, tx *sql.Tx, u User, password, totpSecret string) (User, error) {
	if !u.Role.Valid() {
		return User{}, fault.Errorf(fault.Invalid, "%q is not a role; use one of patient, proxy, clinician, nurse, frontdesk, billing, admin, security, auditor", u.Role)
	}
	u.Email = NormalizeEmail(u.Email)
	if !strings.Contains(u.Email, "@") {
		return User{}, fault.E(fault.Invalid, "Enter an email address like name@example.org.", nil)
	}
	hash, err := HashPassword(password, s.Argon2)
	if err != nil {
		return User{}, err
	}
	u.ID = uuid.NewString()
	r := s.Keys.Row(ctx, "users", u.ID)
	var secret []byte
	if totpSecret != "" {
		secret = r.Seal("totp_secret", totpSecret)
	}
	email, name := r.Seal("email", u.Email), r.Seal("name", u.Name)
	if err := r.Err(); err != nil {
		return User{}, err
	}
	var pid any
	if u.PatientID != "" {
		pid = u.PatientID
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO users (id, email_index, email, name, role, patient_id, password_hash, totp_secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, s.Keys.BlindIndex(indexEmail, u.Email), email, name, string(u.Role), pid, hash, secret, s.Clock.Now().UnixMilli())
	if store.IsUniqueViolation(err) {
		return User{}, fault.E(fault.Conflict, "An account with that email already exists.", err)
	}
	if err != nil {
		return User{}, fmt.Errorf("identity: create user: %w", err)
	}
	return u, nil
}

func fieldOf(userID, column string) keyring.Field {
	return keyring.Field{Table: "users", Column: column, Row: userID}
}

// Names returns the display names of users by ID (staff names for a
// patient's access history). Unknown IDs, and the system's own actors, get
// no entry.
func (s *Store) Names(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		if _, done := out[id]; done || id == "" || strings.HasPrefix(id, "system:") {
			continue
		}
		var ct []byte
		err := s.DB.QueryRowContext(ctx, `SELECT name FROM users WHERE id = $1`, id).Scan(&ct)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		name, err := s.Keys.Decrypt(ctx, fieldOf(id, "name"), ct)
		if err != nil {
			return nil, err
		}
		out[id] = string(name)
	}
	return out, nil
}

// Email returns a user's sign-in email (for system notices).
func (s *Store) Email(ctx context.Context, id string) (string, error) {
	var ct []byte
	if err := s.DB.QueryRowContext(ctx, `SELECT email FROM users WHERE id = $1`, id).Scan(&ct); err != nil {
		return "", err
	}
	b, err := s.Keys.Decrypt(ctx, fieldOf(id, "email"), ct)
	return string(b), err
}
