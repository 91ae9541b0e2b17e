package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/fault"
	"uroportal/internal/identity/passwords"
	"uroportal/internal/session"
)

// Activation codes.
const (
	ActivationValid    = 14 * 24 * time.Hour
	MaxActivationTries = 3
)

// MatchPatient checks a date of birth and family name against a patient's
// record (clinical.Service.MatchIdentity).
type MatchPatient func(ctx context.Context, patientID, birthDate, familyName string) (name string, ok bool, err error)

func (a *Auth) activationHash(code string) []byte {
	m := hmac.New(sha256.New, a.RecoveryKey)
	m.Write([]byte("activation\x00"))
	m.Write([]byte(normalizeRecovery(code)))
	return m.Sum(nil)
}

// newActivationCode is 12 characters in three groups (about 59 bits).
func newActivationCode() string {
	a, b := newRecoveryCode(), newRecoveryCode()
	raw := strings.ReplaceAll(a+b, "-", "")[:12]
	return raw[:4] + "-" + raw[4:8] + "-" + raw[8:]
}

// IssueActivation makes a single-use code for a patient to create their
// account, valid for 14 days. The decision must allow updating the
// patient's demographics (front desk). Issuing a new code retires any
// earlier unused one for that patient.
func (a *Auth) IssueActivation(ctx context.Context, d access.Decision) (string, time.Time, error) {
	pid := d.PatientID()
	if !d.Permits(access.Update, access.Demographics, pid) {
		return "", time.Time{}, access.ErrDenied
	}
	var n int
	if err := a.Users.DB.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE patient_id = $1`, pid).Scan(&n); err != nil {
		return "", time.Time{}, err
	}
	if n > 0 {
		return "", time.Time{}, fault.E(fault.Conflict, "This patient already has a portal account. They can reset their password from the sign-in page.", nil)
	}
	code := newActivationCode()
	now := a.Users.Clock.Now()
	expires := now.Add(ActivationValid)
	err := a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE activation_codes SET burned_at = $1 WHERE patient_id = $2 AND kind = 'patient' AND used_at IS NULL AND burned_at IS NULL`, now.UnixMilli(), pid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO activation_codes (id, code_hash, patient_id, kind, created_by, created_at, expires_at) VALUES ($1, $2, $3, 'patient', $4, $5, $6)`,
			uuid.NewString(), a.activationHash(code), pid, d.Actor().UserID, now.UnixMilli(), expires.UnixMilli()); err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "account.activation.issued", Outcome: audit.Success, Actor: d.Actor(), PatientID: pid,
			Category: "security", Action: "create", ObjectIDs: []string{pid}})
	})
	return code, expires, err
}

// Activation is what a patient types to create their account.
type Activation struct {
	Code, BirthDate, FamilyName, Email, Password string
}

var errActivation = fault.E(fault.Invalid, "The activation code, date of birth or last name did not match our records. Check them and try again; after 3 wrong tries the code stops working and the front desk can give you a new one.", errors.New("identity: activation refused"))

// Activate checks a code with the patient's date of birth and family name
// and creates their account. Three wrong tries burn the code.
func (a *Auth) Activate(ctx context.Context, in Activation, c Client) (LoginResult, error) {
	c.IP = AddressKey(c.IP)
	if err := a.shielded(ctx, c.IP, "account.activation"); err != nil {
		return LoginResult{}, err
	}
	ok, wait, err := a.Throttle.Take(ctx, "activate:"+c.IP, a.cfg.PerIPAccount)
	if err != nil {
		return LoginResult{}, err
	}
	if !ok {
		return LoginResult{}, rateLimited(wait)
	}
	if a.MatchPatient == nil {
		return LoginResult{}, errors.New("identity: no patient matcher")
	}
	now := a.Users.Clock.Now()
	var id, pid string
	var expires int64
	var attempts int
	var used, burned sql.NullInt64
	err = a.Users.DB.QueryRowContext(ctx, `SELECT id, patient_id, expires_at, attempts, used_at, burned_at FROM activation_codes WHERE code_hash = $1 AND kind = 'patient'`,
		a.activationHash(in.Code)).Scan(&id, &pid, &expires, &attempts, &used, &burned)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (used.Valid || burned.Valid || now.UnixMilli() >= expires) {
		if err := a.Audit.Record(ctx, nil, audit.Event{Type: "account.activation", Outcome: "failure", Category: "security", Action: "create", Reason: "unknown_or_spent_code"}); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errActivation
	}
	if err != nil {
		return LoginResult{}, err
	}
	// Spend one of the three tries before checking, atomically, so that
	// parallel guesses get three checks in all, not three each.
	var tries int
	err = a.Users.DB.QueryRowContext(ctx, `UPDATE activation_codes SET attempts = attempts + 1
		WHERE id = $1 AND attempts < $2 AND burned_at IS NULL AND used_at IS NULL RETURNING attempts`, id, MaxActivationTries).Scan(&tries)
	if errors.Is(err, sql.ErrNoRows) {
		return LoginResult{}, errActivation
	}
	if err != nil {
		return LoginResult{}, err
	}
	name, match, err := a.MatchPatient(ctx, pid, in.BirthDate, in.FamilyName)
	if err != nil {
		return LoginResult{}, err
	}
	if !match {
		if tries >= MaxActivationTries {
			if _, err := a.Users.DB.ExecContext(ctx, `UPDATE activation_codes SET burned_at = $1 WHERE id = $2 AND burned_at IS NULL`, now.UnixMilli(), id); err != nil {
				return LoginResult{}, err
			}
		}
		if err := a.Audit.Record(ctx, nil, audit.Event{Type: "account.activation", Outcome: "failure", PatientID: pid, Category: "security", Action: "create", Reason: "identity_mismatch"}); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errActivation
	}
	// The code and identity are right: now the chosen credentials.
	if err := passwords.Check(passwords.Input{Password: in.Password, Context: []string{in.Email, name}}); err != nil {
		return LoginResult{}, err
	}
	var u User
	err = a.Users.DB.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE activation_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND burned_at IS NULL`, now.UnixMilli(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errActivation
		}
		if u, err = a.Users.Create(ctx, tx, User{Email: in.Email, Name: name, Role: access.Patient, PatientID: pid}, in.Password, ""); err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, audit.Event{Type: "account.activation", Outcome: audit.Success, Actor: access.Actor{UserID: u.ID, Role: access.Patient, PatientID: pid},
			PatientID: pid, Category: "security", Action: "create", ObjectIDs: []string{u.ID}})
	})
	if err != nil {
		return LoginResult{}, err
	}
	state := session.Active
	if a.cfg.RequirePatientMFA {
		state = session.Enroll
	}
	token, sess, err := a.Sessions.New(ctx, a.Users.DB, u.ID, false, c.Kind, state, c.UserAgent, c.IP)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Token: token, Session: sess}, nil
}
