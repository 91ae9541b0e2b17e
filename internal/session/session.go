// Package session keeps server-side sessions. The client holds a 256-bit
// random token; the database holds only its SHA-256 hash. Every request is
// checked against the database, so ending a session (sign-out, password
// change, account disabled, admin action) takes effect on every node at
// once. Idle and absolute timeouts are enforced here, by the clock.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"uroportal/internal/clock"
	"uroportal/internal/fault"
	"uroportal/internal/keyring"
	"uroportal/internal/store"
)

// Kind is where a session lives.
type Kind string

// Kinds.
const (
	Browser Kind = "browser" // the __Host- cookie
	API     Kind = "api"     // a bearer token
)

// State is how far sign-in has got.
type State string

// States.
const (
	// MFA: the password was right; a second factor is due.
	MFA State = "mfa"
	// Enroll: signed in, but a second factor must be enrolled before
	// anything else (staff and proxies).
	Enroll State = "enroll"
	// Active: fully signed in.
	Active State = "active"
)

// Why a session ended; recorded and audited.
const (
	EndSignOut        = "sign_out"
	EndIdle           = "idle_timeout"
	EndAbsolute       = "absolute_timeout"
	EndPasswordChange = "password_changed"
	EndPasswordReset  = "password_reset"
	EndDisabled       = "account_disabled"
	EndByUser         = "ended_by_user"
	EndByAdmin        = "ended_by_admin"
	EndMFAFailed      = "mfa_failed"
)

// Config holds the timeouts.
type Config struct {
	IdleStaff   time.Duration // default 15 minutes
	IdlePatient time.Duration // default 30 minutes
	Absolute    time.Duration // default 12 hours
	// Pending is how long a password-accepted session waits for its second
	// factor; default 5 minutes.
	Pending time.Duration
	// TouchEvery limits last-seen writes; default 30 seconds. The idle
	// timeout may end a session up to this much early, never late.
	TouchEvery time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.IdleStaff, 15*time.Minute)
	def(&c.IdlePatient, 30*time.Minute)
	def(&c.Absolute, 12*time.Hour)
	def(&c.Pending, 5*time.Minute)
	def(&c.TouchEvery, 30*time.Second)
	return c
}

// Session is one signed-in (or signing-in) client.
type Session struct {
	ID              string
	UserID          string
	Kind            Kind
	State           State
	CreatedAt       time.Time
	LastSeen        time.Time
	AuthenticatedAt time.Time
	ExpiresAt       time.Time
	IdleTimeout     time.Duration
	MFAAttempts     int
	// UserAgent and SourceIP are filled by List only.
	UserAgent, SourceIP string
}

// IdleExpiry is when the session ends if nothing happens.
func (s Session) IdleExpiry() time.Time {
	t := s.LastSeen.Add(s.IdleTimeout)
	if t.After(s.ExpiresAt) {
		return s.ExpiresAt
	}
	return t
}

// EncryptedTables lists the encrypted columns (a device description and an
// address identify a person).
var EncryptedTables = []keyring.Table{{Name: "sessions", Columns: []string{"user_agent", "source_ip"}}}

// ErrEnded is what a client with an ended, expired or unknown session sees.
var ErrEnded = fault.E(fault.Unauthenticated, "Your session has ended. Please sign in again.", errors.New("session: ended or unknown"))

// Store keeps sessions.
type Store struct {
	DB    *store.DB
	Keys  *keyring.Keyring
	Clock clock.Clock
	// OnExpire, if set, records a session ended by a timeout (the audit
	// log); its error fails the request.
	OnExpire func(ctx context.Context, sess Session, reason string) error
	cfg      Config
}

// NewStore returns a Store with cfg's zero fields defaulted.
func NewStore(db *store.DB, keys *keyring.Keyring, clk clock.Clock, cfg Config) *Store {
	return &Store{DB: db, Keys: keys, Clock: clk, cfg: cfg.withDefaults()}
}

// Config returns the effective timeouts.
func (s *Store) Config() Config { return s.cfg }

// HashToken is the stored form of a token.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// New starts a session in state st and returns its token. q may be a
// transaction.
func (s *Store) New(ctx context.Context, q store.Querier, userID string, staff bool, kind Kind, st State, userAgent, sourceIP string) (string, Session, error) {
	now := s.Clock.Now()
	idle := s.cfg.IdlePatient
	if staff {
		idle = s.cfg.IdleStaff
	}
	expires := now.Add(s.cfg.Absolute)
	if st == MFA {
		expires = now.Add(s.cfg.Pending)
	}
	sess := Session{ID: uuid.NewString(), UserID: userID, Kind: kind, State: st, CreatedAt: now, LastSeen: now,
		AuthenticatedAt: now, ExpiresAt: expires, IdleTimeout: idle}
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	r := s.Keys.Row(ctx, "sessions", sess.ID)
	ua, ip := r.Seal("user_agent", userAgent), r.Seal("source_ip", sourceIP)
	if err := r.Err(); err != nil {
		return "", Session{}, err
	}
	token := newToken()
	_, err := q.ExecContext(ctx, `INSERT INTO sessions (id, token_hash, user_id, kind, state, created_at, last_seen_at, authenticated_at, idle_timeout_ms, expires_at, user_agent, source_ip)
		VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $7, $8, $9, $10)`,
		sess.ID, HashToken(token), userID, string(kind), string(st), now.UnixMilli(), idle.Milliseconds(), expires.UnixMilli(), ua, ip)
	if err != nil {
		return "", Session{}, fmt.Errorf("session: create: %w", err)
	}
	return token, sess, nil
}

const sessionCols = `id, user_id, kind, state, created_at, last_seen_at, authenticated_at, idle_timeout_ms, expires_at, mfa_attempts`

func scan(row interface{ Scan(...any) error }, s *Session, extra ...any) error {
	var kind, st string
	var created, seen, authed, idle, expires int64
	dest := append([]any{&s.ID, &s.UserID, &kind, &st, &created, &seen, &authed, &idle, &expires, &s.MFAAttempts}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	s.Kind, s.State = Kind(kind), State(st)
	s.CreatedAt, s.LastSeen, s.AuthenticatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(seen).UTC(), time.UnixMilli(authed).UTC()
	s.IdleTimeout, s.ExpiresAt = time.Duration(idle)*time.Millisecond, time.UnixMilli(expires).UTC()
	return nil
}

// Lookup returns the live session of token without touching it. Ended,
// expired and unknown sessions are ErrEnded; an expired one is ended in the
// database with its reason.
func (s *Store) Lookup(ctx context.Context, token string) (Session, error) {
	if token == "" || len(token) > 128 {
		return Session{}, ErrEnded
	}
	var sess Session
	var ended sql.NullInt64
	err := scan(s.DB.QueryRowContext(ctx, `SELECT `+sessionCols+`, ended_at FROM sessions WHERE token_hash = $1`, HashToken(token)), &sess, &ended)
	if errors.Is(err, sql.ErrNoRows) || err == nil && ended.Valid {
		return Session{}, ErrEnded
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: lookup: %w", err)
	}
	now := s.Clock.Now()
	switch {
	case !now.Before(sess.ExpiresAt):
		if err := s.expire(ctx, sess, EndAbsolute); err != nil {
			return Session{}, err
		}
		return Session{}, fault.E(fault.Unauthenticated, "Your session has ended. Please sign in again.", fmt.Errorf("session: %s: %s", sess.ID, EndAbsolute))
	case !now.Before(sess.LastSeen.Add(sess.IdleTimeout)):
		if err := s.expire(ctx, sess, EndIdle); err != nil {
			return Session{}, err
		}
		return Session{}, fault.E(fault.Unauthenticated, "You were signed out because the page was left alone for a while. Please sign in again.", fmt.Errorf("session: %s: %s", sess.ID, EndIdle))
	}
	return sess, nil
}

// expire ends a timed-out session once and records it.
func (s *Store) expire(ctx context.Context, sess Session, reason string) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL`, s.Clock.Now().UnixMilli(), reason, sess.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 && s.OnExpire != nil {
		return s.OnExpire(ctx, sess, reason)
	}
	return nil
}

// Touch records activity, at most once per TouchEvery, and returns the
// session as it now stands.
func (s *Store) Touch(ctx context.Context, sess Session) (Session, error) {
	now := s.Clock.Now()
	if now.Sub(sess.LastSeen) < s.cfg.TouchEvery {
		return sess, nil
	}
	_, err := s.DB.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL`, now.UnixMilli(), sess.ID)
	if err != nil {
		return sess, fmt.Errorf("session: touch: %w", err)
	}
	sess.LastSeen = now
	return sess, nil
}

// Advance moves a session to state st with a new token (a new ID at every
// privilege change), and marks it authenticated now. The old token stops
// working.
func (s *Store) Advance(ctx context.Context, q store.Querier, id string, st State) (string, error) {
	now := s.Clock.Now()
	token := newToken()
	res, err := q.ExecContext(ctx, `UPDATE sessions SET token_hash = $1, state = $2, authenticated_at = $3, last_seen_at = $3,
		expires_at = CASE WHEN state = 'mfa' THEN $4 ELSE expires_at END, mfa_attempts = 0
		WHERE id = $5 AND ended_at IS NULL`,
		HashToken(token), string(st), now.UnixMilli(), now.Add(s.cfg.Absolute).UnixMilli(), id)
	if err != nil {
		return "", fmt.Errorf("session: advance: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", ErrEnded
	}
	return token, nil
}

// Reauthenticated records a fresh proof of identity (for changes that need
// one within the last five minutes).
func (s *Store) Reauthenticated(ctx context.Context, id string) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE sessions SET authenticated_at = $1 WHERE id = $2 AND ended_at IS NULL`, s.Clock.Now().UnixMilli(), id)
	return err
}

// CountMFAFailure adds a failed second-factor attempt and returns the count.
func (s *Store) CountMFAFailure(ctx context.Context, id string) (int, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `UPDATE sessions SET mfa_attempts = mfa_attempts + 1 WHERE id = $1 RETURNING mfa_attempts`, id).Scan(&n)
	return n, err
}

// End ends one session.
func (s *Store) End(ctx context.Context, q store.Querier, id, reason string) error {
	_, err := q.ExecContext(ctx, `UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL`, s.Clock.Now().UnixMilli(), reason, id)
	return err
}

// EndUser ends every session of a user except keepID (which may be "").
// It returns how many it ended.
func (s *Store) EndUser(ctx context.Context, q store.Querier, userID, reason, keepID string) (int64, error) {
	res, err := q.ExecContext(ctx, `UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE user_id = $3 AND id <> $4 AND ended_at IS NULL`,
		s.Clock.Now().UnixMilli(), reason, userID, keepID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// EndOwn ends one of a user's own sessions; another user's ID is not found.
func (s *Store) EndOwn(ctx context.Context, userID, id, reason string) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND user_id = $4 AND ended_at IS NULL`,
		s.Clock.Now().UnixMilli(), reason, id, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fault.E(fault.NotFound, "That session has already ended.", nil)
	}
	return nil
}

// List returns a user's live sessions, newest first, with device and
// address decrypted.
func (s *Store) List(ctx context.Context, userID string) ([]Session, error) {
	now := s.Clock.Now().UnixMilli()
	rows, err := s.DB.QueryContext(ctx, `SELECT `+sessionCols+`, user_agent, source_ip FROM sessions
		WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at + idle_timeout_ms > $2 ORDER BY last_seen_at DESC`, userID, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var sess Session
		var ua, ip []byte
		if err := scan(rows, &sess, &ua, &ip); err != nil {
			return nil, err
		}
		r := s.Keys.Row(ctx, "sessions", sess.ID)
		sess.UserAgent, sess.SourceIP = r.Open("user_agent", ua), r.Open("source_ip", ip)
		if err := r.Err(); err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, rows.Err()
}

// EndPending ends a user's sign-ins that are still waiting for a second
// factor (when the account locks).
func (s *Store) EndPending(ctx context.Context, q store.Querier, userID, reason string) (int64, error) {
	res, err := q.ExecContext(ctx, `UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE user_id = $3 AND state = 'mfa' AND ended_at IS NULL`,
		s.Clock.Now().UnixMilli(), reason, userID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
