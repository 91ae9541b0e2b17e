package passkey

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"uroportal/internal/fault"
)

// BeginLogin starts a usernameless sign-in: the options
// ({"publicKey": {...}}) list no credentials, so the browser offers the
// passkeys it holds for this site. User verification is preferred; whether
// it was done is checked at the finish, where the account is known.
func (s *Service) BeginLogin(ctx context.Context) (options json.RawMessage, ceremonyID string, err error) {
	assertion, sd, err := s.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, "", internal(fmt.Errorf("passkey: begin sign-in: %w", err))
	}
	if options, err = json.Marshal(assertion); err != nil {
		return nil, "", internal(fmt.Errorf("passkey: encode options: %w", err))
	}
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		ceremonyID, err = s.saveCeremony(ctx, tx, kindLogin, "", sd)
		return err
	})
	if err != nil {
		return nil, "", internal(err)
	}
	return options, ceremonyID, nil
}

// FinishLogin checks the browser's response (the JSON of
// PublicKeyCredential.toJSON() from navigator.credentials.get) against the
// ceremony and returns the ID of the user whose passkey signed it. It
// refuses a passkey of a disabled account; a staff account's (isStaff
// says which; a nil isStaff treats everyone as staff) without user
// verification; and an authenticator whose signature counter did not move
// forward, which is what a cloned one does. The ceremony is used up whatever
// the outcome. The caller still applies its own account rules (lockout,
// session) before signing the user in.
func (s *Service) FinishLogin(ctx context.Context, ceremonyID string, response []byte, isStaff func(userID string) (bool, error)) (userID string, err error) {
	sd, err := s.takeCeremony(ctx, ceremonyID, kindLogin, "")
	if errors.Is(err, errNoCeremony) {
		return "", refuse(msgExpired, err)
	}
	if err != nil {
		return "", internal(err)
	}
	if len(response) > maxResponse {
		return "", refuse(msgUse, errors.New("response too large"))
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return "", refuse(msgUse, fmt.Errorf("parse: %w", detail(err)))
	}

	var rec *record
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		r, err := s.loadByCredential(ctx, rawID)
		if err != nil {
			return nil, err
		}
		h := s.handle(r.userID)
		if !hmac.Equal(userHandle, h) {
			return nil, errors.New("passkey: user handle does not belong to the credential's account")
		}
		rec = r
		return &waUser{handle: h, creds: []webauthn.Credential{r.cred}}, nil
	}
	_, cred, err := s.WebAuthn.ValidatePasskeyLogin(handler, *sd, parsed)
	if err != nil {
		return "", refuse(msgUse, fmt.Errorf("verify: %w", detail(err)))
	}

	flags := parsed.Response.AuthenticatorData.Flags
	staff := true
	if isStaff != nil {
		if staff, err = isStaff(rec.userID); err != nil {
			return "", internal(fmt.Errorf("passkey: is %s staff: %w", rec.userID, err))
		}
	}
	if staff && !flags.HasUserVerified() {
		return "", refuse(msgUse, fmt.Errorf("staff passkey %s without user verification", rec.id))
	}
	if cred.Authenticator.CloneWarning {
		return "", refuse(msgUse, fmt.Errorf("passkey %s: signature counter %d did not advance past %d; possible cloned authenticator",
			rec.id, parsed.Response.AuthenticatorData.Counter, rec.cred.Authenticator.SignCount))
	}

	// Compare-and-set on the counter: of two sign-ins racing with the same
	// counter value, only one is accepted.
	count := int64(parsed.Response.AuthenticatorData.Counter)
	res, err := s.DB.ExecContext(ctx, `UPDATE passkeys SET sign_count = $1, backup_state = $2, last_used_at = $3
		WHERE id = $4 AND user_id = $5 AND (sign_count < $1 OR (sign_count = 0 AND $1 = 0))`,
		count, boolInt(flags.HasBackupState()), s.Clock.Now().UnixMilli(), rec.id, rec.userID)
	if err != nil {
		return "", internal(fmt.Errorf("passkey: record use: %w", err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", internal(fmt.Errorf("passkey: record use: %w", err))
	} else if n != 1 {
		return "", refuse(msgUse, fmt.Errorf("passkey %s: counter %d lost a race or the passkey was removed", rec.id, count))
	}
	return rec.userID, nil
}

// refuse is a failed sign-in: the safe message for the person, the cause
// for the log.
func refuse(msg string, cause error) error {
	return fault.E(fault.Unauthenticated, msg, fmt.Errorf("passkey: sign-in: %w", cause))
}
