package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"math"
	"time"

	"uroportal/internal/clock"
	"uroportal/internal/store"
)

// Bucket is a token bucket: Capacity attempts at once, refilled at Per
// second.
type Bucket struct {
	Capacity float64
	Per      float64
}

// Throttle keeps token buckets in the database, so every node draws from the
// same ones. Keys are HMACs: no address or email is stored.
type Throttle struct {
	DB    *store.DB
	Clock clock.Clock
	Key   []byte // from the keyring, the same on every node
}

// KeyFor returns the stored key of a bucket name such as "ip:192.0.2.1".
func (t *Throttle) KeyFor(name string) []byte {
	m := hmac.New(sha256.New, t.Key)
	m.Write([]byte(name))
	return m.Sum(nil)
}

// Take removes one token from the bucket named name. When the bucket is
// empty it reports false and how long until a token is back.
func (t *Throttle) Take(ctx context.Context, name string, b Bucket) (bool, time.Duration, error) {
	key := t.KeyFor(name)
	now := t.Clock.Now().UnixMilli()
	if _, err := t.DB.ExecContext(ctx, `INSERT INTO throttle (key_hash, tokens, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key_hash) DO NOTHING`,
		key, b.Capacity, now); err != nil {
		return false, 0, fmt.Errorf("throttle: %w", err)
	}
	// One statement reads, refills and takes, so concurrent nodes cannot
	// both spend the last token.
	const refilled = `(CASE WHEN tokens + (CAST($1 AS DOUBLE PRECISION) - updated_at) * CAST($2 AS DOUBLE PRECISION) / 1000.0 > CAST($3 AS DOUBLE PRECISION)
		THEN CAST($3 AS DOUBLE PRECISION)
		ELSE tokens + (CAST($1 AS DOUBLE PRECISION) - updated_at) * CAST($2 AS DOUBLE PRECISION) / 1000.0 END)`
	res, err := t.DB.ExecContext(ctx, `UPDATE throttle SET tokens = `+refilled+` - 1, updated_at = CASE WHEN $4 > updated_at THEN $4 ELSE updated_at END
		WHERE key_hash = $5 AND `+refilled+` >= 1`, float64(now), b.Per, b.Capacity, now, key)
	if err != nil {
		return false, 0, fmt.Errorf("throttle: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, 0, nil
	}
	var tokens float64
	var updated int64
	if err := t.DB.QueryRowContext(ctx, `SELECT tokens, updated_at FROM throttle WHERE key_hash = $1`, key).Scan(&tokens, &updated); err != nil {
		return false, 0, fmt.Errorf("throttle: %w", err)
	}
	have := tokens + float64(max(now-updated, 0))*b.Per/1000
	wait := time.Duration(math.Ceil((1-have)/b.Per*1000)) * time.Millisecond
	return false, max(wait, time.Second), nil
}

// Sweep deletes buckets untouched for a day (they are full again anyway).
func (t *Throttle) Sweep(ctx context.Context) error {
	_, err := t.DB.ExecContext(ctx, `DELETE FROM throttle WHERE updated_at < $1`, t.Clock.Now().Add(-24*time.Hour).UnixMilli())
	return err
}
