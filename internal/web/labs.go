package web

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/clinical"
	"uroportal/internal/fault"
)

var errSignIn = fault.E(fault.Unauthenticated, "Please sign in to see this page.", nil)

// actor authenticates the request and puts where it came from in the
// context for the audit log.
func (s *Server) actor(r *http.Request) (context.Context, access.Actor, error) {
	a, err := s.actorOf(r)
	if err != nil {
		return nil, access.Actor{}, err
	}
	ctx := audit.WithRequest(r.Context(), audit.Request{ID: RequestID(r.Context()), SourceIP: clientIP(r), UserAgent: r.UserAgent()})
	return ctx, a, nil
}

// labsPage is the data of the lab results page.
type labsPage struct {
	PatientID string
	Code      string
	Results   []labRow
}

type labRow struct {
	Name, Value, Unit, ReferenceRange, Flag, FlagText, Status string
	Collected                                                 time.Time
	OrderingClinician                                         string
}

var flagText = map[string]string{
	clinical.FlagHigh:   "High",
	clinical.FlagLow:    "Low",
	clinical.FlagAbnorm: "Abnormal",
}

// labsPage lists one patient's lab results, newest first.
func (s *Server) labsPage(w http.ResponseWriter, r *http.Request) error {
	ctx, a, err := s.actor(r)
	if err != nil {
		return err
	}
	pid, code := r.PathValue("patientID"), r.URL.Query().Get("code")
	rs, err := s.clinical.LabResults(ctx, a, pid, code)
	if err != nil {
		return err
	}
	page := labsPage{PatientID: pid, Code: code, Results: make([]labRow, len(rs))}
	for i, x := range rs {
		page.Results[i] = labRow{Name: x.Name, Value: x.Value, Unit: x.Unit, ReferenceRange: x.ReferenceRange,
			Flag: x.Flag, FlagText: flagText[x.Flag], Status: x.Status, Collected: x.CollectedAt, OrderingClinician: x.OrderingClinician}
	}
	return s.pages.render(w, r, http.StatusOK, "labs", "Lab results", page)
}

// labJSON is one result in /api/v1 (CONTRACT.md).
type labJSON struct {
	ID             string    `json:"id"`
	Code           string    `json:"code"`
	Name           string    `json:"name"`
	Value          string    `json:"value"`
	Unit           string    `json:"unit"`
	ReferenceRange string    `json:"reference_range"`
	Flag           string    `json:"flag"`
	Status         string    `json:"status"`
	CollectedAt    time.Time `json:"collected_at"`
	ResultedAt     time.Time `json:"resulted_at"`
}

func (s *Server) labsJSON(w http.ResponseWriter, r *http.Request) error {
	ctx, a, err := s.actor(r)
	if err != nil {
		return err
	}
	rs, err := s.clinical.LabResults(ctx, a, r.PathValue("patientID"), r.URL.Query().Get("code"))
	if err != nil {
		return err
	}
	out := struct {
		Results []labJSON `json:"results"`
	}{Results: make([]labJSON, len(rs))}
	for i, x := range rs {
		out.Results[i] = labJSON{ID: x.ID, Code: x.Code, Name: x.Name, Value: x.Value, Unit: x.Unit, ReferenceRange: x.ReferenceRange,
			Flag: x.Flag, Status: x.Status, CollectedAt: x.CollectedAt, ResultedAt: x.ResultedAt}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}

// clientIP is the peer address. Forwarded headers are not trusted: the
// portal terminates TLS itself.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
