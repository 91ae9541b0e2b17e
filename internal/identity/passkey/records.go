package passkey

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"uroportal/internal/fault"
	"uroportal/internal/store"
)

// record is one passkeys row, opened.
type record struct {
	id     string
	userID string
	cred   webauthn.Credential
}

// sealedKey is the plaintext of public_key: the owner's user ID, a NUL, and
// the COSE public key. Opening checks the owner against the row, so a row
// moved to another user no longer opens as a usable passkey.
func sealedKey(userID string, cose []byte) string { return userID + "\x00" + string(cose) }

func openedKey(userID, plain string) ([]byte, error) {
	owner, cose, ok := strings.Cut(plain, "\x00")
	if !ok || owner != userID || cose == "" {
		return nil, errors.New("passkey: public key is not bound to this row's user")
	}
	return []byte(cose), nil
}

// loadByCredential finds the passkey with raw credential ID rawID whose
// account is not disabled.
func (s *Service) loadByCredential(ctx context.Context, rawID []byte) (*record, error) {
	var (
		rec                   record
		credCT, keyCT, aaguid []byte
		attType, transports   string
		signCount             int64
		be, bs, uv            int
	)
	err := s.DB.QueryRowContext(ctx, `SELECT p.id, p.user_id, p.credential_id, p.public_key, p.attestation_type, p.aaguid,
			p.sign_count, p.backup_eligible, p.backup_state, p.user_verified, p.transports
		FROM passkeys p JOIN users u ON u.id = p.user_id
		WHERE p.credential_id_index = $1 AND u.disabled_at IS NULL`, s.credentialIndex(rawID)).
		Scan(&rec.id, &rec.userID, &credCT, &keyCT, &attType, &aaguid, &signCount, &be, &bs, &uv, &transports)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errors.New("passkey: no such credential (or the account is disabled)")
	}
	if err != nil {
		return nil, fmt.Errorf("passkey: load credential: %w", err)
	}
	r := s.Keys.Row(ctx, "passkeys", rec.id)
	credID, keyPlain := r.Open("credential_id", credCT), r.Open("public_key", keyCT)
	if err := r.Err(); err != nil {
		return nil, err
	}
	if !bytes.Equal([]byte(credID), rawID) {
		return nil, errors.New("passkey: credential ID does not match its index")
	}
	pk, err := openedKey(rec.userID, keyPlain)
	if err != nil {
		return nil, err
	}
	flags := protocol.FlagUserPresent
	if uv == 1 {
		flags |= protocol.FlagUserVerified
	}
	if be == 1 {
		flags |= protocol.FlagBackupEligible
	}
	if bs == 1 {
		flags |= protocol.FlagBackupState
	}
	rec.cred = webauthn.Credential{
		ID:              rawID,
		PublicKey:       pk,
		AttestationType: attType,
		Transport:       splitTransports(transports),
		Flags:           webauthn.NewCredentialFlags(flags),
		Authenticator:   webauthn.Authenticator{AAGUID: aaguid, SignCount: uint32(signCount)},
	}
	return &rec, nil
}

// userCredentials returns the IDs and transports of userID's passkeys, for
// the exclude list of a new registration.
func (s *Service) userCredentials(ctx context.Context, q store.Querier, userID string) ([]webauthn.Credential, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, credential_id, transports FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("passkey: list credentials: %w", err)
	}
	defer rows.Close()
	var out []webauthn.Credential
	for rows.Next() {
		var (
			id, transports string
			ct             []byte
		)
		if err := rows.Scan(&id, &ct, &transports); err != nil {
			return nil, err
		}
		r := s.Keys.Row(ctx, "passkeys", id)
		raw := r.Open("credential_id", ct)
		if err := r.Err(); err != nil {
			return nil, err
		}
		out = append(out, webauthn.Credential{ID: []byte(raw), Transport: splitTransports(transports)})
	}
	return out, rows.Err()
}

// List returns userID's passkeys, oldest first.
func (s *Service) List(ctx context.Context, userID string) ([]Info, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, name, created_at, last_used_at, backup_eligible, backup_state, user_verified, transports
		FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("passkey: list: %w", err)
	}
	defer rows.Close()
	var out []Info
	for rows.Next() {
		var (
			in         Info
			name       []byte
			created    int64
			lastUsed   sql.NullInt64
			be, bs, uv int
			transports string
		)
		if err := rows.Scan(&in.ID, &name, &created, &lastUsed, &be, &bs, &uv, &transports); err != nil {
			return nil, fmt.Errorf("passkey: list: %w", err)
		}
		r := s.Keys.Row(ctx, "passkeys", in.ID)
		in.Name = r.Open("name", name)
		if err := r.Err(); err != nil {
			return nil, err
		}
		in.CreatedAt = time.UnixMilli(created).UTC()
		if lastUsed.Valid {
			in.LastUsedAt = time.UnixMilli(lastUsed.Int64).UTC()
		}
		in.BackupEligible, in.Synced, in.UserVerified = be == 1, bs == 1, uv == 1
		if transports != "" {
			in.Transports = strings.Split(transports, ",")
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// Remove deletes one of userID's passkeys. Another user's passkey is
// reported as not found.
func (s *Service) Remove(ctx context.Context, userID, passkeyID string) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, passkeyID, userID)
	if err != nil {
		return fmt.Errorf("passkey: remove: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("passkey: remove: %w", err)
	} else if n == 0 {
		return fault.E(fault.NotFound, msgNotFound, nil)
	}
	return nil
}
