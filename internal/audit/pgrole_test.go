package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"uroportal/internal/audit"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

// The README's PostgreSQL role for the application: it may only INSERT and
// SELECT on the audit tables, so even the application's own credentials
// cannot rewrite history.
const appRoleGrants = `
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %[1]s;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM %[1]s;
`

func TestPostgresAppRoleCannotRewriteAudit(t *testing.T) {
	ctx := context.Background()
	dbURL := storetest.PostgresURL(t)
	owner, err := store.Open(ctx, dbURL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := owner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	role := "uroportal_app_" + hex.EncodeToString(b)
	for _, q := range []string{"CREATE ROLE " + role + " LOGIN", strings.ReplaceAll(appRoleGrants, "%[1]s", role)} {
		if _, err := owner.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		owner.ExecContext(context.Background(), "DROP OWNED BY "+role)
		owner.ExecContext(context.Background(), "DROP ROLE IF EXISTS "+role)
	})
	u, _ := url.Parse(dbURL)
	u.User = url.User(role)
	app, err := store.Open(ctx, u.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	l := newLog(t, app)
	if err := l.Record(ctx, nil, audit.Event{Type: "phi.results.view", Outcome: audit.Success}); err != nil {
		t.Fatalf("the application role cannot append: %v", err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatalf("the application role cannot checkpoint: %v", err)
	}
	for _, q := range []string{`UPDATE audit_events SET reason = 'x'`, `DELETE FROM audit_events`, `UPDATE audit_checkpoints SET at = 0`, `TRUNCATE audit_events`} {
		if _, err := app.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s as the application role: %v, want permission denied", q, err)
		}
	}
}
