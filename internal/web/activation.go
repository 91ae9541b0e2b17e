package web

import (
	"net/http"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/fault"
	"uroportal/internal/identity"
	"uroportal/internal/session"
)

type issuePage struct {
	MRN     string
	Error   string
	Issued  bool
	Patient string // name for the letter
	Code    string
	Expires time.Time
	URL     string
}

func (s *Server) issueForm(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.signedIn(r); err != nil {
		return err
	}
	return s.pages.render(w, r, http.StatusOK, "issue", "Give a patient an activation code", issuePage{})
}

// issue finds the patient by MRN and issues a code to print or read out;
// the code is shown this once.
func (s *Server) issue(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	mrn := r.PostFormValue("mrn")
	pat, err := s.clinical.FindByMRN(r.Context(), p.Actor(), mrn)
	if err == nil {
		var d access.Decision
		if d, err = s.policy.Decide(r.Context(), p.Actor(), access.Update, access.Demographics, pat.ID); err == nil {
			var code string
			var exp time.Time
			if code, exp, err = s.auth.IssueActivation(r.Context(), d); err == nil {
				return s.pages.render(w, r, http.StatusOK, "issue", "Give a patient an activation code", issuePage{
					Issued: true, Patient: pat.GivenName + " " + pat.FamilyName, Code: code, Expires: exp, URL: s.publicURL + "/activate"})
			}
		}
	}
	if k := fault.KindOf(err); k == fault.NotFound || k == fault.Conflict {
		return s.pages.render(w, r, http.StatusOK, "issue", "Give a patient an activation code", issuePage{MRN: mrn, Error: fault.Message(err)})
	}
	return err
}

type activatePage struct {
	Code, BirthDate, FamilyName, Email string
	Error                              string
}

func (s *Server) activateForm(w http.ResponseWriter, r *http.Request) error {
	return s.pages.render(w, r, http.StatusOK, "activate", "Set up your portal account", activatePage{})
}

func (s *Server) activate(w http.ResponseWriter, r *http.Request) error {
	in := identity.Activation{Code: r.PostFormValue("code"), BirthDate: r.PostFormValue("birth_date"), FamilyName: r.PostFormValue("family_name"),
		Email: r.PostFormValue("email"), Password: r.PostFormValue("password")}
	page := activatePage{Code: in.Code, BirthDate: in.BirthDate, FamilyName: in.FamilyName, Email: in.Email}
	if in.Password != r.PostFormValue("confirm") {
		page.Error = "The two passwords are not the same. Type the new password twice."
		return s.pages.render(w, r, http.StatusBadRequest, "activate", "Set up your portal account", page)
	}
	res, err := s.auth.Activate(r.Context(), in, client(r, session.Browser))
	if k := fault.KindOf(err); err != nil && (k == fault.Invalid || k == fault.Conflict) {
		page.Error = fault.Message(err)
		return s.pages.render(w, r, http.StatusBadRequest, "activate", "Set up your portal account", page)
	}
	if err != nil {
		return err
	}
	setSessionCookie(w, res.Token)
	if res.Session.State == session.Enroll {
		http.Redirect(w, r, "/account/mfa", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/?welcome=1", http.StatusSeeOther)
	return nil
}
