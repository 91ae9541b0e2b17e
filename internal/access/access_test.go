package access_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/clock"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

func seed(t *testing.T, db *store.DB, now time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"pA", "pB"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO patients (id, mrn_index, mrn, family_name, given_name, birth_date, sex, address, phone, email, created_at, updated_at)
			VALUES ($1, $2, $3, $3, $3, $3, $3, $3, $3, $3, 0, 0)`, id, []byte(id), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range [][2]string{{"uClin", "clinician"}, {"uNurse", "nurse"}, {"uProxy", "proxy"}, {"uProxyOld", "proxy"}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO users (id, email_index, email, name, role, password_hash, created_at) VALUES ($1, $2, $3, $3, $4, 'x', 0)`,
			u[0], []byte(u[0]), []byte("x"), u[1]); err != nil {
			t.Fatal(err)
		}
	}
	access.AddToCareTeam(ctx, db, "pA", "uClin", now)
	access.AddToCareTeam(ctx, db, "pA", "uNurse", now)
	access.AddProxy(ctx, db, "uProxy", "pB", []access.Category{access.Results}, now.Add(time.Hour), now)
	access.AddProxy(ctx, db, "uProxyOld", "pB", []access.Category{access.Results}, now.Add(-time.Hour), now)
}

func TestDecisionTable(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	type tc struct {
		name    string
		actor   access.Actor
		action  access.Action
		cat     access.Category
		patient string
		allowed bool
	}
	patA := access.Actor{UserID: "uPatA", Role: access.Patient, PatientID: "pA"}
	clin := access.Actor{UserID: "uClin", Role: access.Clinician}
	nurse := access.Actor{UserID: "uNurse", Role: access.Nurse}
	proxy := access.Actor{UserID: "uProxy", Role: access.Proxy}
	cases := []tc{
		{"patient own results", patA, access.View, access.Results, "pA", true},
		{"patient other results", patA, access.View, access.Results, "pB", false},
		{"patient own results update", patA, access.Update, access.Results, "pA", false},
		{"clinician care team", clin, access.View, access.Results, "pA", true},
		{"clinician care team create", clin, access.Create, access.Results, "pA", true},
		{"clinician no relation", clin, access.View, access.Results, "pB", false},
		{"nurse care team", nurse, access.View, access.Results, "pA", true},
		{"nurse update result", nurse, access.Update, access.Results, "pA", false},
		{"proxy in scope", proxy, access.View, access.Results, "pB", true},
		{"proxy out of scope", proxy, access.View, access.Demographics, "pB", false},
		{"proxy other patient", proxy, access.View, access.Results, "pA", false},
		{"proxy expired", access.Actor{UserID: "uProxyOld", Role: access.Proxy}, access.View, access.Results, "pB", false},
		{"front desk demographics", access.Actor{UserID: "uFD", Role: access.FrontDesk}, access.View, access.Demographics, "pB", true},
		{"front desk results", access.Actor{UserID: "uFD", Role: access.FrontDesk}, access.View, access.Results, "pB", false},
		{"front desk unknown patient", access.Actor{UserID: "uFD", Role: access.FrontDesk}, access.View, access.Demographics, "pZ", false},
		{"billing demographics", access.Actor{UserID: "uB", Role: access.Billing}, access.View, access.Demographics, "pA", true},
		{"billing results", access.Actor{UserID: "uB", Role: access.Billing}, access.View, access.Results, "pA", false},
		{"admin results", access.Actor{UserID: "uAd", Role: access.Admin}, access.View, access.Results, "pA", false},
		{"security results", access.Actor{UserID: "uS", Role: access.Security}, access.View, access.Results, "pA", false},
		{"auditor demographics", access.Actor{UserID: "uAu", Role: access.Auditor}, access.View, access.Demographics, "pA", false},
		{"unknown role", access.Actor{UserID: "uX", Role: "superuser"}, access.View, access.Results, "pA", false},
		{"no user", access.Actor{Role: access.Clinician}, access.View, access.Results, "pA", false},
		{"empty patient", patA, access.View, access.Results, "", false},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db, now)
		p := access.New(db, clock.NewFake(now))
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				d, err := p.Decide(context.Background(), c.actor, c.action, c.cat, c.patient)
				if c.allowed {
					if err != nil || !d.Permits(c.action, c.cat, c.patient) {
						t.Fatalf("denied: %v", err)
					}
					// A grant is for exactly what was asked.
					if d.Permits(c.action, c.cat, "pOther") || d.Permits(access.Update, "other", c.patient) {
						t.Fatal("decision permits more than asked")
					}
					return
				}
				if !errors.Is(err, access.ErrDenied) || d.Permits(c.action, c.cat, c.patient) {
					t.Fatalf("allowed (err %v)", err)
				}
			})
		}
	})
}

func TestZeroDecisionPermitsNothing(t *testing.T) {
	var d access.Decision
	if d.Permits(access.View, access.Results, "") || d.Permits(access.View, access.Results, "pA") {
		t.Fatal("the zero Decision permits something")
	}
}
