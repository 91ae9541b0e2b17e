package app

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"strings"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/config"
	"uroportal/internal/identity"
	"uroportal/internal/identity/passwords"
)

// operator is the actor of command-line administration: whoever holds the
// server's data directory and key.
var operator = access.Actor{UserID: "system:cli", Role: access.Admin}

// CreateUser adds an account. Without a password it generates a strong one
// and prints it once; there are no default passwords. Staff and proxies set
// up a second factor at their first sign-in.
func CreateUser(ctx context.Context, cfg config.Config, role, email, name, password string, out io.Writer) error {
	a, err := Open(ctx, cfg, discard(), Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	r := access.Role(role)
	if !r.Valid() || r == access.Patient || r == access.Proxy {
		return fmt.Errorf("--role %q: use clinician, nurse, frontdesk, billing, admin, security or auditor (patients and proxies join with an activation code)", role)
	}
	generated := password == ""
	if generated {
		password = strings.ToLower(rand.Text())
	} else if err := passwords.Check(passwords.Input{Password: password, Context: []string{cfg.PracticeName, name, email}}); err != nil {
		return err
	}
	var u identity.User
	err = a.DB.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = a.Users.Create(ctx, tx, identity.User{Email: email, Name: name, Role: r}, password, "")
		if err != nil {
			return err
		}
		return a.Audit.Record(ctx, tx, auditAccount("account.create", u.ID, role))
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created %s account %s for %s\n", role, u.ID, u.Email)
	if generated {
		fmt.Fprintf(out, "one-time password (give it to the person; they set up an authenticator app at first sign-in and should change it): %s\n", password)
	}
	return nil
}

// AdminUser disables, enables or unlocks the account with email.
func AdminUser(ctx context.Context, cfg config.Config, action, email string, out io.Writer) error {
	a, err := Open(ctx, cfg, discard(), Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	id, err := a.Auth.FindUser(ctx, email)
	if err != nil {
		return err
	}
	switch action {
	case "disable":
		err = a.Auth.SetDisabled(ctx, operator, id, true)
	case "enable":
		err = a.Auth.SetDisabled(ctx, operator, id, false)
	case "unlock":
		err = a.Auth.AdminUnlock(ctx, operator, id)
	case "end-sessions":
		err = a.Auth.EndSessionsOf(ctx, operator, id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s\n", map[string]string{"disable": "disabled", "enable": "enabled", "unlock": "unlocked", "end-sessions": "signed out everywhere"}[action], email)
	return nil
}

func auditAccount(event, userID, role string) audit.Event {
	return audit.Event{Type: event, Outcome: audit.Success, Actor: operator, Category: "security", Action: "privilege change", ObjectIDs: []string{userID}, Reason: role}
}
