package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"uroportal/internal/audit"
)

// DeviceCookieLife is how long a browser is remembered.
const DeviceCookieLife = 365 * 24 * time.Hour

// SeenDevice notes a completed sign-in from a browser. A browser without a
// remembered-device token for this user gets a new one (to set as a
// cookie), and a staff member is emailed a "new sign-in" notice with no
// PHI. It returns the token to set, or "" to keep the current one.
func (a *Auth) SeenDevice(ctx context.Context, p Principal, token, userAgent string) (string, error) {
	now := a.Users.Clock.Now()
	if token != "" && len(token) < 100 {
		h := sha256.Sum256([]byte(token))
		res, err := a.Users.DB.ExecContext(ctx, `UPDATE devices SET last_seen_at = $1 WHERE id_hash = $2 AND user_id = $3`, now.UnixMilli(), h[:], p.User.ID)
		if err != nil {
			return "", err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return "", nil
		}
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	fresh := base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(fresh))
	err := a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)`, h[:], p.User.ID, now.UnixMilli()); err != nil {
			return err
		}
		if !Staff(p.User.Role) {
			return nil
		}
		if a.Notify == nil {
			return errors.New("identity: no notifier for new-device notices")
		}
		if err := a.Notify.NewSignIn(ctx, tx, p.User.Email, now, DeviceHint(userAgent)); err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "auth.new_device", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "sign-in"})
	})
	return fresh, err
}

// DeviceHint is a coarse, PHI-free description of a browser such as
// "Firefox on Windows".
func DeviceHint(ua string) string {
	browser := "a browser"
	for _, b := range []struct{ token, name string }{{"Edg/", "Edge"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := "an unknown system"
	for _, s := range []struct{ token, name string }{{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"}, {"Mac OS", "macOS"}, {"Linux", "Linux"}} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	return browser + " on " + system
}
