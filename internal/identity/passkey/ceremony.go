package passkey

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/webauthn"
)

const (
	kindRegister = "register"
	kindLogin    = "login"
)

// errNoCeremony means the ceremony is unknown, used, expired, of the other
// kind, or another user's.
var errNoCeremony = errors.New("passkey: no such ceremony")

func newCeremonyID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// saveCeremony stores sd, sealed, inside tx, clearing expired ceremonies on
// the way. userID is empty for a sign-in.
func (s *Service) saveCeremony(ctx context.Context, tx *sql.Tx, kind, userID string, sd *webauthn.SessionData) (string, error) {
	now := s.Clock.Now()
	if _, err := tx.ExecContext(ctx, `DELETE FROM webauthn_ceremonies WHERE expires_at <= $1`, now.UnixMilli()); err != nil {
		return "", fmt.Errorf("passkey: clear expired ceremonies: %w", err)
	}
	raw, err := json.Marshal(sd)
	if err != nil {
		return "", fmt.Errorf("passkey: encode session: %w", err)
	}
	id := newCeremonyID()
	r := s.Keys.Row(ctx, "webauthn_ceremonies", id)
	data := r.Seal("data", string(raw))
	if err := r.Err(); err != nil {
		return "", err
	}
	var uid any
	if userID != "" {
		uid = userID
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO webauthn_ceremonies (id, user_id, kind, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, uid, kind, data, now.UnixMilli(), now.Add(s.timeout).UnixMilli())
	if err != nil {
		return "", fmt.Errorf("passkey: save ceremony: %w", err)
	}
	return id, nil
}

// takeCeremony deletes the ceremony and returns its session data. The delete
// commits on its own, before the response is checked, so a ceremony is used
// up by any attempt to finish it. A registration ceremony is only found for
// the user who began it, so another user's attempt neither finishes nor
// spends it.
func (s *Service) takeCeremony(ctx context.Context, id, kind, userID string) (*webauthn.SessionData, error) {
	if id == "" {
		return nil, errNoCeremony
	}
	var row *sql.Row
	if kind == kindRegister {
		row = s.DB.QueryRowContext(ctx, `DELETE FROM webauthn_ceremonies WHERE id = $1 AND kind = $2 AND user_id = $3 RETURNING data, expires_at`, id, kind, userID)
	} else {
		row = s.DB.QueryRowContext(ctx, `DELETE FROM webauthn_ceremonies WHERE id = $1 AND kind = $2 AND user_id IS NULL RETURNING data, expires_at`, id, kind)
	}
	var (
		data    []byte
		expires int64
	)
	if err := row.Scan(&data, &expires); errors.Is(err, sql.ErrNoRows) {
		return nil, errNoCeremony
	} else if err != nil {
		return nil, fmt.Errorf("passkey: take ceremony: %w", err)
	}
	if s.Clock.Now().UnixMilli() >= expires {
		return nil, fmt.Errorf("%w (expired)", errNoCeremony)
	}
	r := s.Keys.Row(ctx, "webauthn_ceremonies", id)
	raw := r.Open("data", data)
	if err := r.Err(); err != nil {
		return nil, err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(raw), &sd); err != nil {
		return nil, fmt.Errorf("passkey: decode session: %w", err)
	}
	return &sd, nil
}
