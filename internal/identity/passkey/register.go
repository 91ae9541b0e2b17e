package passkey

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"uroportal/internal/fault"
	"uroportal/internal/store"
)

// BeginRegistration starts adding a passkey to u's account. It returns the
// creation options for the browser ({"publicKey": {...}}) and the ceremony
// ID to hand back to FinishRegistration. The passkey must be discoverable
// (usernameless sign-in), user verification is required for staff and
// preferred for everyone else, and the user's existing passkeys are
// excluded so one authenticator is not registered twice.
func (s *Service) BeginRegistration(ctx context.Context, u User) (options json.RawMessage, ceremonyID string, err error) {
	if u.ID == "" {
		return nil, "", fault.E(fault.Internal, "", errors.New("passkey: begin registration without a user ID"))
	}
	uv := protocol.VerificationPreferred
	if u.Staff {
		uv = protocol.VerificationRequired
	}
	display := u.Name
	if display == "" {
		display = u.Email
	}
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		creds, err := s.userCredentials(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		if len(creds) >= MaxPasskeys {
			return fault.E(fault.Conflict, msgTooMany, nil)
		}
		user := &waUser{handle: s.handle(u.ID), name: u.Email, displayName: display, creds: creds}
		creation, sd, err := s.WebAuthn.BeginRegistration(user,
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: uv}),
			webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
			webauthn.WithExclusions(webauthn.Credentials(creds).CredentialDescriptors()),
		)
		if err != nil {
			return fmt.Errorf("passkey: begin registration: %w", err)
		}
		if options, err = json.Marshal(creation); err != nil {
			return fmt.Errorf("passkey: encode options: %w", err)
		}
		ceremonyID, err = s.saveCeremony(ctx, tx, kindRegister, u.ID, sd)
		return err
	})
	if err != nil {
		return nil, "", internal(err)
	}
	return options, ceremonyID, nil
}

// FinishRegistration checks the browser's response (the JSON of
// PublicKeyCredential.toJSON() from navigator.credentials.create) against
// the ceremony u began, and stores the passkey under the label name. The
// ceremony is used up whatever the outcome, except when name is not
// acceptable: then nothing is spent and the same response may be posted
// again with a better name.
func (s *Service) FinishRegistration(ctx context.Context, u User, ceremonyID string, name string, response []byte) (passkeyID string, err error) {
	name, err = cleanName(name)
	if err != nil {
		return "", err
	}
	sd, err := s.takeCeremony(ctx, ceremonyID, kindRegister, u.ID)
	if errors.Is(err, errNoCeremony) {
		return "", fault.E(fault.Invalid, msgExpired, err)
	}
	if err != nil {
		return "", internal(err)
	}
	if len(response) > maxResponse {
		return "", fault.E(fault.Invalid, msgRegister, errors.New("passkey: registration response too large"))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return "", fault.E(fault.Invalid, msgRegister, fmt.Errorf("passkey: parse registration: %w", detail(err)))
	}
	verified := parsed.Response.AttestationObject.AuthData.Flags.HasUserVerified()
	user := &waUser{handle: s.handle(u.ID)}
	cred, err := s.WebAuthn.CreateCredential(user, *sd, parsed)
	if err != nil {
		msg := msgRegister
		if sd.UserVerification == protocol.VerificationRequired && !verified {
			msg = msgStaffUV
		}
		return "", fault.E(fault.Invalid, msg, fmt.Errorf("passkey: verify registration: %w", detail(err)))
	}
	// A staff account needs user verification whatever the ceremony asked,
	// in case the account became staff while it was in flight.
	if u.Staff && !verified {
		return "", fault.E(fault.Invalid, msgStaffUV, errors.New("passkey: staff registration without user verification"))
	}

	id := uuid.NewString()
	now := s.Clock.Now().UnixMilli()
	r := s.Keys.Row(ctx, "passkeys", id)
	credCT := r.Seal("credential_id", string(cred.ID))
	keyCT := r.Seal("public_key", sealedKey(u.ID, cred.PublicKey))
	nameCT := r.Seal("name", name)
	if err := r.Err(); err != nil {
		return "", internal(err)
	}
	aaguid := cred.Authenticator.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM passkeys WHERE user_id = $1`, u.ID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxPasskeys {
			return fault.E(fault.Conflict, msgTooMany, nil)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO passkeys (id, user_id, credential_id_index, credential_id, public_key, attestation_type, aaguid,
				sign_count, backup_eligible, backup_state, user_verified, transports, name, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			id, u.ID, s.credentialIndex(cred.ID), credCT, keyCT, cred.AttestationType, aaguid,
			int64(cred.Authenticator.SignCount), boolInt(cred.Flags.BackupEligible), boolInt(cred.Flags.BackupState),
			boolInt(cred.Flags.UserVerified), joinTransports(cred.Transport), nameCT, now)
		if store.IsUniqueViolation(err) {
			return fault.E(fault.Conflict, msgExists, err)
		}
		return err
	})
	if err != nil {
		return "", internal(err)
	}
	return id, nil
}

// internal passes fault errors through and hides anything else behind the
// generic message.
func internal(err error) error {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return err
	}
	return fault.E(fault.Internal, "", err)
}
