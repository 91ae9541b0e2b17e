package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"uroportal/internal/access"
	"uroportal/internal/fault"
)

// Alert rules (names are stable: dashboards and webhooks use them).
const (
	RuleFailedSignInsAccount = "failed_sign_ins_account"
	RuleFailedSignInsAddress = "failed_sign_ins_address"
	RuleBreakGlass           = "break_glass"
	RuleManyPatients         = "many_patients"
	RuleSameFamilyName       = "same_family_name"
	RuleAfterHours           = "after_hours"
	RuleBulkExport           = "bulk_export"
	RuleFlaggedRecord        = "flagged_record"
)

// AlertConfig tunes the rules; zero fields take the defaults.
type AlertConfig struct {
	FailedSignIns    int           // per account or address in FailedWindow; default 10
	FailedWindow     time.Duration // default 15 minutes
	DistinctPatients int           // one staff member's distinct patients in PatientWindow; default 25
	PatientWindow    time.Duration // default 1 hour
	WorkStart        int           // working hours, local hour [WorkStart, WorkEnd); default 7–19
	WorkEnd          int
	Location         *time.Location // default UTC
	BulkExportRows   int            // an export of this many events or more; default 1000
	// Off turns rules off by name.
	Off map[string]bool
}

func (c AlertConfig) withDefaults() AlertConfig {
	if c.FailedSignIns <= 0 {
		c.FailedSignIns = 10
	}
	if c.FailedWindow <= 0 {
		c.FailedWindow = 15 * time.Minute
	}
	if c.DistinctPatients <= 0 {
		c.DistinctPatients = 25
	}
	if c.PatientWindow <= 0 {
		c.PatientWindow = time.Hour
	}
	if c.WorkStart == 0 && c.WorkEnd == 0 {
		c.WorkStart, c.WorkEnd = 7, 19
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.BulkExportRows <= 0 {
		c.BulkExportRows = 1000
	}
	return c
}

// Alert is one raised alert. It names people and records by ID only.
type Alert struct {
	ID        string    `json:"id"`
	At        time.Time `json:"at"`
	Rule      string    `json:"rule"`
	ActorID   string    `json:"actor_id,omitempty"`
	PatientID string    `json:"patient_id,omitempty"`
	SourceIP  string    `json:"source_ip,omitempty"`
	Detail    string    `json:"detail"`
	Seq       int64     `json:"seq"`
}

// Alerter runs the rules over new events.
type Alerter struct {
	Log    *Log
	Config AlertConfig
	// SameFamilyName reports whether a staff member shares the patient's
	// family name (the caller decrypts both); nil turns the rule off.
	SameFamilyName func(ctx context.Context, actorID, patientID string) (bool, error)
	// Webhook, if set, receives each new alert as JSON, signed with
	// HMAC-SHA256 of the body under WebhookSecret in X-Uroportal-Signature.
	Webhook       string
	WebhookSecret []byte
	Client        *http.Client
	Node          string
}

var exportRows = regexp.MustCompile(`; (\d+) rows$`)

var staffRoles = map[string]bool{"clinician": true, "nurse": true, "frontdesk": true, "billing": true, "admin": true, "security": true, "auditor": true}

// Scan evaluates the rules over events since the last scan and returns the
// alerts it raised. One node scans at a time (a lease, as shipping has).
func (a *Alerter) Scan(ctx context.Context) ([]Alert, error) {
	cfg := a.Config.withDefaults()
	db := a.Log.DB
	now := a.Log.Clock.Now().UnixMilli()
	const stream = "alerts"
	if _, err := db.ExecContext(ctx, `INSERT INTO audit_ship_cursor (name, last_seq, holder, lease_until) VALUES ($1, 0, '', 0) ON CONFLICT (name) DO NOTHING`, stream); err != nil {
		return nil, err
	}
	res, err := db.ExecContext(ctx, `UPDATE audit_ship_cursor SET holder = $1, lease_until = $2 WHERE name = $3 AND (lease_until < $4 OR holder = $1)`,
		a.Node, now+60_000, stream, now)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, nil
	}
	var cursor int64
	if err := db.QueryRowContext(ctx, `SELECT last_seq FROM audit_ship_cursor WHERE name = $1`, stream).Scan(&cursor); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT `+rowCols+` FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 5000`, cursor)
	if err != nil {
		return nil, err
	}
	var events []Stored
	for rows.Next() {
		var r row
		var seq sql.NullInt64
		if err := scanRow(rows, &r, &seq); err != nil {
			rows.Close()
			return nil, err
		}
		events = append(events, storedOf(r))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var raised []Alert
	for _, e := range events {
		found, err := a.evaluate(ctx, cfg, e)
		if err != nil {
			return raised, err
		}
		for _, al := range found {
			if cfg.Off[al.Rule] {
				continue
			}
			ok, err := a.insert(ctx, al)
			if err != nil {
				return raised, err
			}
			if ok {
				raised = append(raised, al.Alert)
			}
		}
		cursor = e.Seq
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_ship_cursor SET last_seq = $1 WHERE name = $2 AND holder = $3`, cursor, stream, a.Node); err != nil {
		return raised, err
	}
	for _, al := range raised {
		if err := a.send(ctx, al); err != nil {
			return raised, err
		}
	}
	return raised, nil
}

type candidate struct {
	Alert
	dedupe string
}

func (a *Alerter) evaluate(ctx context.Context, cfg AlertConfig, e Stored) ([]candidate, error) {
	var out []candidate
	add := func(rule, dedupe, detail string) {
		out = append(out, candidate{Alert{ID: uuid.NewString(), At: e.At, Rule: rule, ActorID: e.ActorID, PatientID: e.PatientID, SourceIP: e.SourceIP, Detail: detail, Seq: e.Seq}, rule + ":" + dedupe})
	}
	at := e.At.UnixMilli()
	bucket := func(d time.Duration) string { return strconv.FormatInt(at/d.Milliseconds(), 10) }
	count := func(q string, args ...any) (int, error) {
		var n int
		err := a.Log.DB.QueryRowContext(ctx, q, args...).Scan(&n)
		return n, err
	}
	if e.Type == "auth.signin" && e.Outcome == "failure" {
		from := at - cfg.FailedWindow.Milliseconds()
		if e.ActorID != "" {
			n, err := count(`SELECT count(*) FROM audit_events WHERE event_type = 'auth.signin' AND outcome = 'failure' AND actor_id = $1 AND at > $2 AND seq <= $3`, e.ActorID, from, e.Seq)
			if err != nil {
				return nil, err
			}
			if n >= cfg.FailedSignIns {
				add(RuleFailedSignInsAccount, e.ActorID+":"+bucket(cfg.FailedWindow), fmt.Sprintf("%d failed sign-ins on one account in %s", n, cfg.FailedWindow))
			}
		}
		if e.SourceIP != "" {
			n, err := count(`SELECT count(*) FROM audit_events WHERE event_type = 'auth.signin' AND outcome = 'failure' AND source_ip = $1 AND at > $2 AND seq <= $3`, e.SourceIP, from, e.Seq)
			if err != nil {
				return nil, err
			}
			if n >= cfg.FailedSignIns {
				add(RuleFailedSignInsAddress, e.SourceIP+":"+bucket(cfg.FailedWindow), fmt.Sprintf("%d failed sign-ins from one address in %s", n, cfg.FailedWindow))
			}
		}
	}
	if len(e.ActingFor) >= len("break-glass") && e.ActingFor[:len("break-glass")] == "break-glass" {
		add(RuleBreakGlass, strconv.FormatInt(e.Seq, 10), "emergency (break-glass) access to a record")
	}
	// People, not the system's own operations (demo data, imports).
	person := !strings.HasPrefix(e.ActorID, "system:")
	phi := person && e.Outcome == Success && e.PatientID != "" && (e.Category == "results" || e.Category == "demographics") && staffRoles[e.ActorRole]
	if phi {
		n, err := count(`SELECT count(DISTINCT patient_id) FROM audit_events WHERE actor_id = $1 AND outcome = 'success' AND category IN ('results', 'demographics') AND at > $2 AND seq <= $3`,
			e.ActorID, at-cfg.PatientWindow.Milliseconds(), e.Seq)
		if err != nil {
			return nil, err
		}
		if n >= cfg.DistinctPatients {
			add(RuleManyPatients, e.ActorID+":"+bucket(cfg.PatientWindow), fmt.Sprintf("one staff member opened %d different patients' records within %s", n, cfg.PatientWindow))
		}
		// Working hours of 0–24 mean the practice never closes: no rule.
		local := e.At.In(cfg.Location)
		alwaysOpen := cfg.WorkStart == 0 && cfg.WorkEnd == 24
		if h := local.Hour(); !alwaysOpen && (h < cfg.WorkStart || h >= cfg.WorkEnd || local.Weekday() == time.Saturday || local.Weekday() == time.Sunday) {
			add(RuleAfterHours, e.ActorID+":"+local.Format("2006-01-02"), "a staff member opened a patient's record outside working hours")
		}
		var flag string
		err = a.Log.DB.QueryRowContext(ctx, `SELECT flag FROM patient_flags WHERE patient_id = $1 ORDER BY flag LIMIT 1`, e.PatientID).Scan(&flag)
		switch {
		case err == nil:
			add(RuleFlaggedRecord, strconv.FormatInt(e.Seq, 10), "a staff member opened a record flagged as "+map[string]string{"vip": "a VIP", "employee": "an employee"}[flag])
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
		if a.SameFamilyName != nil {
			same, err := a.SameFamilyName(ctx, e.ActorID, e.PatientID)
			if err != nil {
				return nil, err
			}
			if same {
				add(RuleSameFamilyName, e.ActorID+":"+e.PatientID, "a staff member opened the record of a patient with the same family name")
			}
		}
	}
	if e.Type == "audit.report.export" || e.Action == "export" {
		if m := exportRows.FindStringSubmatch(e.Reason); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= cfg.BulkExportRows {
				add(RuleBulkExport, strconv.FormatInt(e.Seq, 10), fmt.Sprintf("an export of %d records", n))
			}
		}
	}
	return out, nil
}

func (a *Alerter) insert(ctx context.Context, c candidate) (bool, error) {
	res, err := a.Log.DB.ExecContext(ctx, `INSERT INTO audit_alerts (id, dedupe, at, rule, actor_id, patient_id, source_ip, detail, seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe) DO NOTHING`,
		c.ID, c.dedupe, c.At.UnixMilli(), c.Rule, c.ActorID, c.PatientID, c.SourceIP, c.Detail, c.Seq)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// send posts an alert to the webhook, signed.
func (a *Alerter) send(ctx context.Context, al Alert) error {
	if a.Webhook == "" {
		return nil
	}
	body, err := json.Marshal(al)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, a.WebhookSecret)
	m.Write(body)
	req, err := http.NewRequestWithContext(ctx, "POST", a.Webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Uroportal-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	client := a.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("audit: alert webhook: %w", err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("audit: alert webhook answered %d", res.StatusCode)
	}
	return nil
}

// Alerts lists recent alerts, newest first.
func (l *Log) Alerts(ctx context.Context, limit int) ([]Alert, error) {
	rows, err := l.DB.QueryContext(ctx, `SELECT id, at, rule, actor_id, patient_id, source_ip, detail, seq FROM audit_alerts ORDER BY at DESC, seq DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var al Alert
		var at int64
		if err := rows.Scan(&al.ID, &at, &al.Rule, &al.ActorID, &al.PatientID, &al.SourceIP, &al.Detail, &al.Seq); err != nil {
			return nil, err
		}
		al.At = time.UnixMilli(at).UTC()
		out = append(out, al)
	}
	return out, rows.Err()
}

// FlagPatient marks (or, with on false, unmarks) a record as VIP or
// employee, so every staff access to it raises an alert. The change is
// recorded.
func (l *Log) FlagPatient(ctx context.Context, by access.Actor, patientID, flag string, on bool) error {
	if flag != "vip" && flag != "employee" {
		return fault.E(fault.Invalid, "Choose vip or employee.", nil)
	}
	if by.Role != access.Security || by.UserID == "" {
		return access.ErrDenied
	}
	return l.DB.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		if on {
			_, err = tx.ExecContext(ctx, `INSERT INTO patient_flags (patient_id, flag, set_by, set_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
				patientID, flag, by.UserID, l.Clock.Now().UnixMilli())
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM patient_flags WHERE patient_id = $1 AND flag = $2`, patientID, flag)
		}
		if err != nil {
			return fmt.Errorf("audit: flag %s: %w", patientID, err)
		}
		return l.Record(ctx, tx, Event{Type: "audit.flag." + map[bool]string{true: "set", false: "cleared"}[on], Outcome: Success, Actor: by,
			PatientID: patientID, Category: access.AuditLog, Action: access.Update, Reason: flag})
	})
}
