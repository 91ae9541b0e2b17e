package web

import (
	"net/http"
	"time"

	"uroportal/internal/audit"
)

type historyPage struct {
	PatientID string
	Entries   []historyRow
}

type historyRow struct {
	At         time.Time
	Who        string
	Role       string
	What       string
	BreakGlass bool
	Refused    bool
}

var roleWords = map[string]string{
	"patient": "Patient", "proxy": "Caregiver (proxy)", "clinician": "Doctor", "nurse": "Nurse or medical assistant",
	"frontdesk": "Front desk", "billing": "Billing", "admin": "Practice administrator", "security": "Security officer", "auditor": "Auditor",
}

var categoryWords = map[string]string{
	"results": "lab results", "demographics": "contact and personal details",
}

var actionWords = map[string]string{"view": "Looked at", "create": "Added", "update": "Changed", "export": "Downloaded", "print": "Printed"}

// accessHistory shows a patient (or their proxy) who touched the record.
func (s *Server) accessHistory(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	if s.audit == nil {
		return errNotFound
	}
	ctx, a, err := s.actor(r)
	if err != nil {
		return err
	}
	pid := r.PathValue("patientID")
	entries, err := s.audit.History(ctx, s.policy, a, pid, 200)
	if err != nil {
		return err
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ActorID
	}
	names, err := s.auth.Users.Names(ctx, ids)
	if err != nil {
		return err
	}
	page := historyPage{PatientID: pid}
	for _, e := range entries {
		row := historyRow{At: e.At, Role: roleWords[e.ActorRole], BreakGlass: e.BreakGlass(), Refused: e.Outcome == audit.Denied}
		switch {
		case e.ActorID == p.User.ID:
			row.Who = "You"
		case names[e.ActorID] != "":
			row.Who = names[e.ActorID]
		default:
			row.Who, row.Role = "The portal itself", "System"
		}
		what := categoryWords[e.Category]
		if what == "" {
			what = "your record"
		}
		row.What = actionWords[e.Action] + " " + what
		if actionWords[e.Action] == "" {
			row.What = "Used " + what
		}
		if row.Refused {
			row.What = "Tried to open " + what + " (refused)"
		}
		page.Entries = append(page.Entries, row)
	}
	return s.pages.render(w, r, http.StatusOK, "history", "Who has looked at your record", page)
}
