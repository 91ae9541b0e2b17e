package web

import (
	"fmt"
	"net/http"

	"uroportal/internal/access"
	"uroportal/internal/session"

	"uroportal/internal/fault"
)

var errNotFound = fault.E(fault.NotFound, "", nil)

// home is the landing page; signed in, it lists where the person can go.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	page := homePage{Welcome: r.URL.Query().Get("welcome") == "1"}
	if p, ok := principalFrom(r.Context()); ok && p.Session.State == session.Active {
		page.SignedIn, page.Name = true, p.User.Name
		switch p.User.Role {
		case access.Patient:
			page.Links = append(page.Links, homeLink{"/patients/" + p.User.PatientID + "/results", "Your lab results"},
				homeLink{"/patients/" + p.User.PatientID + "/access-history", "Who has looked at your record"})
		case access.Proxy:
			ids, err := s.policy.ActingFor(r.Context(), p.User.ID)
			if err != nil {
				return err
			}
			for i, id := range ids {
				page.Links = append(page.Links, homeLink{"/patients/" + id + "/results", fmt.Sprintf("Lab results of the person you care for (%d)", i+1)})
			}
		case access.FrontDesk:
			page.Links = append(page.Links, homeLink{"/staff/activation", "Give a patient an activation code"})
		case access.Security, access.Auditor:
			page.Links = append(page.Links, homeLink{"/security/alerts", "Security alerts"}, homeLink{"/security/audit", "Audit log"})
			if p.User.Role == access.Security {
				page.Links = append(page.Links, homeLink{"/security/settings", "What the audit log records"})
			}
		}
		page.Links = append(page.Links, homeLink{"/account", "Your account and security"})
	}
	return s.pages.render(w, r, http.StatusOK, "home", "Welcome", page)
}

type homeLink struct{ Href, Text string }

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	return errNotFound
}
