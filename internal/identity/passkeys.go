package identity

import (
	"context"
	"database/sql"
	"encoding/json"

	"uroportal/internal/audit"
	"uroportal/internal/fault"
	"uroportal/internal/identity/passkey"
	"uroportal/internal/session"
)

// passkeyUser is the account as the passkey service sees it.
func passkeyUser(p Principal) passkey.User {
	return passkey.User{ID: p.User.ID, Email: p.User.Email, Name: p.User.Name, Staff: Staff(p.User.Role)}
}

// BeginPasskey starts registering a passkey for the signed-in user (after a
// fresh proof of identity, unless the session exists to enroll a factor).
func (a *Auth) BeginPasskey(ctx context.Context, p Principal) (json.RawMessage, string, error) {
	if a.Passkeys == nil {
		return nil, "", fault.E(fault.NotFound, "Passkeys are not available here.", nil)
	}
	if p.Session.State != session.Enroll {
		if err := a.RequireRecent(p); err != nil {
			return nil, "", err
		}
	}
	return a.Passkeys.BeginRegistration(ctx, passkeyUser(p))
}

// FinishPasskey registers the passkey. Like ConfirmTOTP it returns fresh
// recovery codes if the user had none, and a new token for a session that
// was waiting on enrollment.
func (a *Auth) FinishPasskey(ctx context.Context, p Principal, ceremonyID, name string, response []byte) (codes []string, newToken string, err error) {
	if a.Passkeys == nil {
		return nil, "", fault.E(fault.NotFound, "Passkeys are not available here.", nil)
	}
	if _, err := a.Passkeys.FinishRegistration(ctx, passkeyUser(p), ceremonyID, name, response); err != nil {
		return nil, "", err
	}
	return a.factorAdded(ctx, p, "webauthn")
}

// factorAdded finishes enrolling any second factor.
func (a *Auth) factorAdded(ctx context.Context, p Principal, kind string) (codes []string, newToken string, err error) {
	err = a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, p.User.ID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if codes, err = a.replaceRecoveryCodes(ctx, tx, p.User.ID); err != nil {
				return err
			}
		}
		if p.Session.State == session.Enroll {
			if newToken, err = a.Sessions.Advance(ctx, tx, p.Session.ID, session.Active); err != nil {
				return err
			}
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "auth.mfa.enrolled", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "privilege change", Reason: kind})
	})
	return codes, newToken, err
}

// RemovePasskey deletes one of the user's passkeys. Staff and proxies keep
// at least one factor.
func (a *Auth) RemovePasskey(ctx context.Context, p Principal, id string) error {
	if err := a.RequireRecent(p); err != nil {
		return err
	}
	ac, err := a.loadByID(ctx, p.User.ID)
	if err != nil {
		return err
	}
	if a.cfg.needsMFA(ac.Role) && !ac.totp && ac.passkeys <= 1 {
		return fault.E(fault.Conflict, "Your account needs a second way to sign in. Set up the authenticator app before removing your last passkey.", nil)
	}
	if err := a.Passkeys.Remove(ctx, p.User.ID, id); err != nil {
		return err
	}
	return a.Audit.Record(ctx, nil, audit.Event{Type: "auth.mfa.removed", Outcome: audit.Success, Actor: p.Actor(), Category: "security", Action: "privilege change", Reason: "webauthn", ObjectIDs: []string{id}})
}

// ListPasskeys lists the user's passkeys.
func (a *Auth) ListPasskeys(ctx context.Context, p Principal) ([]passkey.Info, error) {
	if a.Passkeys == nil {
		return nil, nil
	}
	return a.Passkeys.List(ctx, p.User.ID)
}

// BeginPasskeySignIn starts the passkey step of a pending sign-in.
func (a *Auth) BeginPasskeySignIn(ctx context.Context, token string) (json.RawMessage, string, error) {
	sess, _, err := a.Pending(ctx, token)
	if err != nil {
		return nil, "", err
	}
	// Each ceremony writes a row: a few per pending sign-in are plenty.
	if ok, wait, err := a.Throttle.Take(ctx, "passkey-begin:"+sess.ID, Bucket{Capacity: 5, Per: 1.0 / 60}); err != nil {
		return nil, "", err
	} else if !ok {
		return nil, "", rateLimited(wait)
	}
	if a.Passkeys == nil {
		return nil, "", fault.E(fault.NotFound, "Passkeys are not available here.", nil)
	}
	return a.Passkeys.BeginLogin(ctx)
}

// FinishPasskeySignIn verifies the assertion and completes the pending
// sign-in if the passkey belongs to the same user.
func (a *Auth) FinishPasskeySignIn(ctx context.Context, token, ceremonyID string, response []byte) (string, session.Session, error) {
	sess, ac, err := a.Pending(ctx, token)
	if err != nil {
		return "", session.Session{}, err
	}
	if err := a.reserveAttempt(ctx, ac.ID); err != nil {
		a.Sessions.End(ctx, a.Users.DB, sess.ID, session.EndMFAFailed)
		return "", session.Session{}, err
	}
	userID, err := a.Passkeys.FinishLogin(ctx, ceremonyID, response, func(string) (bool, error) { return Staff(ac.Role), nil })
	if err != nil {
		return "", session.Session{}, a.mfaFailed(ctx, sess, Principal{User: ac.User}.Actor(), "webauthn")
	}
	return a.CompleteWithPasskey(ctx, token, userID)
}
