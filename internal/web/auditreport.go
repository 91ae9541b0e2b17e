package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/fault"
)

type auditPage struct {
	Form  url.Values
	Rows  []audit.Stored
	Next  string
	Sorts []string
	Sort  string
	Desc  bool
	CSV   string
	JSON  string
}

// auditFilter reads a report's filter from the query string; a bad value is
// a clear error, not an empty report.
func auditFilter(q url.Values) (audit.Filter, error) {
	f := audit.Filter{ActorID: q.Get("actor"), PatientID: q.Get("patient"), Type: q.Get("type"), Outcome: q.Get("outcome"),
		Category: q.Get("category"), Action: q.Get("action"), SourceIP: q.Get("source"), Sort: q.Get("sort"), Desc: q.Get("order") != "asc",
		AfterValue: q.Get("after_value")}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return f, fault.E(fault.Invalid, "Enter dates as year-month-day, for example 2026-12-03.", nil)
			}
			*dst = t
		}
	}
	if !f.To.IsZero() {
		f.To = f.To.Add(24 * time.Hour) // "to" includes the whole day
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return f, fault.E(fault.Invalid, "That page link is broken; start the report again.", nil)
		}
		f.After = n
	}
	if _, ok := audit.SortFields[f.Sort]; !ok {
		f.Sort = "time"
	}
	return f, nil
}

func (s *Server) auditReport(w http.ResponseWriter, r *http.Request) error {
	ctx, d, err := s.auditDecision(r, access.View)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f, err := auditFilter(q)
	if err != nil {
		return err
	}
	f.Limit = 100
	rows, err := s.audit.Search(ctx, d, f)
	if err != nil {
		return err
	}
	page := auditPage{Form: q, Rows: rows, Sort: f.Sort, Desc: f.Desc}
	for k := range audit.SortFields {
		page.Sorts = append(page.Sorts, k)
	}
	keep := url.Values{}
	for k, v := range q {
		if k != "after" && k != "after_value" {
			keep[k] = v
		}
	}
	page.CSV = "/security/audit/export/csv?" + keep.Encode()
	page.JSON = "/security/audit/export/json?" + keep.Encode()
	if len(rows) == f.Limit {
		last := rows[len(rows)-1]
		next := url.Values{}
		for k, v := range keep {
			next[k] = v
		}
		next.Set("after", strconv.FormatInt(last.Seq, 10))
		next.Set("after_value", last.SortValue(f.Sort))
		page.Next = "/security/audit?" + next.Encode()
	}
	return s.pages.render(w, r, http.StatusOK, "audit", "Audit log", page)
}

// auditExport streams the report as CSV or JSON (up to 10,000 rows a file;
// narrow the dates for more). The export is itself audited.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) error {
	ctx, d, err := s.auditDecision(r, access.Export)
	if err != nil {
		return err
	}
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	f.Limit = 10000
	rows, err := s.audit.Search(ctx, d, f)
	if err != nil {
		return err
	}
	format := r.PathValue("format")
	name := "uroportal-audit-" + s.clock.Now().Format("20060102-150405")
	switch format {
	case "json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
		return json.NewEncoder(w).Encode(rows)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		cw := csv.NewWriter(w)
		cw.Write([]string{"seq", "time_utc", "type", "outcome", "actor_id", "actor_role", "acting_for", "patient_id", "category", "action", "object_ids", "request_id", "source_ip", "user_agent", "reason", "node"})
		for _, e := range rows {
			cw.Write(csvSafe([]string{strconv.FormatInt(e.Seq, 10), e.At.Format(time.RFC3339Nano), e.Type, e.Outcome, e.ActorID, e.ActorRole, e.ActingFor,
				e.PatientID, e.Category, e.Action, e.ObjectIDs, e.RequestID, e.SourceIP, e.UserAgent, e.Reason, e.Node}))
		}
		cw.Flush()
		return cw.Error()
	}
	return errNotFound
}

// csvSafe defuses spreadsheet formulas: a cell starting with = + - @ is
// prefixed with an apostrophe (user agents come from outside).
func csvSafe(cells []string) []string {
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			cells[i] = "'" + c
		}
	}
	return cells
}

type alertsPage struct {
	Alerts []audit.Alert
	Notice string
	Error  string
}

// alerts is the security officer's dashboard of raised alerts.
func (s *Server) alerts(w http.ResponseWriter, r *http.Request) error {
	ctx, d, err := s.auditDecision(r, access.View)
	if err != nil {
		return err
	}
	list, err := s.audit.Alerts(ctx, 200)
	if err != nil {
		return err
	}
	if err := s.audit.Record(ctx, nil, audit.Event{Type: "audit.alerts.view", Outcome: audit.Success, Actor: d.Actor(), Category: access.AuditLog, Action: access.View}); err != nil {
		return err
	}
	return s.pages.render(w, r, http.StatusOK, "alerts", "Security alerts", alertsPage{Alerts: list})
}

// flag marks a record as VIP or employee (or clears the mark), by MRN.
func (s *Server) flag(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	if p.User.Role != access.Security {
		// Refused before any lookup, so the answer says nothing about MRNs.
		return access.ErrDenied
	}
	ctx, a, err := s.actor(r)
	if err != nil {
		return err
	}
	pid, err := s.clinical.PatientIDByMRN(ctx, r.PostFormValue("mrn"))
	if err == nil {
		err = s.audit.FlagPatient(ctx, a, pid, r.PostFormValue("flag"), r.PostFormValue("on") != "no")
	}
	page := alertsPage{}
	switch k := fault.KindOf(err); {
	case err == nil:
		page.Notice = "Saved. Staff access to that record now raises an alert."
	case k == fault.NotFound, k == fault.Invalid:
		page.Error = fault.Message(err)
	default:
		return err
	}
	if page.Alerts, err = s.audit.Alerts(ctx, 200); err != nil {
		return err
	}
	return s.pages.render(w, r, http.StatusOK, "alerts", "Security alerts", page)
}

type settingsPage struct {
	Settings []audit.Setting
	Notice   string
}

func (s *Server) auditSettings(w http.ResponseWriter, r *http.Request) error {
	p, err := s.signedIn(r)
	if err != nil {
		return err
	}
	if p.User.Role != access.Security {
		return access.ErrDenied
	}
	page := settingsPage{Settings: s.audit.Settings(r.Context())}
	if r.URL.Query().Get("saved") == "1" {
		page.Notice = "Saved. The change is recorded in the audit log."
	}
	return s.pages.render(w, r, http.StatusOK, "settings", "What the audit log records", page)
}

func (s *Server) changeAuditSetting(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.signedIn(r); err != nil {
		return err
	}
	ctx, a, err := s.actor(r)
	if err != nil {
		return err
	}
	if err := s.audit.ChangeSetting(ctx, a, r.PostFormValue("name"), r.PostFormValue("value") == "on"); err != nil {
		return err
	}
	http.Redirect(w, r, "/security/settings?saved=1", http.StatusSeeOther)
	return nil
}

// auditDecision signs in the request and decides access to the practice's
// audit log, returning the context that carries the request for the log.
func (s *Server) auditDecision(r *http.Request, action access.Action) (context.Context, access.Decision, error) {
	p, err := s.signedIn(r)
	if err != nil {
		return nil, access.Decision{}, err
	}
	d, err := s.policy.DecidePractice(p.Actor(), action, access.AuditLog)
	if err != nil {
		return nil, access.Decision{}, err
	}
	ctx, _, err := s.actor(r)
	return ctx, d, err
}
