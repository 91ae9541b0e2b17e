package audit

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/fault"
)

// Settings the security officer can change. Only records of low value can
// be left out; authentication, security, refusals and every staff access
// are always recorded.
const (
	// SettingOwnViews: record patients (and proxies) viewing the records
	// they may see. On by default.
	SettingOwnViews = "record_own_views"
)

// Setting describes one setting for the settings page.
type Setting struct {
	Name, Label string
	On          bool
}

var settingLabels = map[string]string{
	SettingOwnViews: "Record every time a patient or their proxy views their own record",
}

type settingsCache struct {
	mu     sync.Mutex
	values map[string]bool
	loaded time.Time
}

// recording reports whether events governed by name are recorded (cached
// for ten seconds; a change reaches every node within that).
func (l *Log) recording(ctx context.Context, name string) bool {
	l.settings.mu.Lock()
	defer l.settings.mu.Unlock()
	now := l.Clock.Now()
	if l.settings.values == nil || now.Sub(l.settings.loaded) > 10*time.Second {
		values := map[string]bool{}
		rows, err := l.DB.QueryContext(ctx, `SELECT name, value FROM audit_settings`)
		if err != nil {
			return true // unknown: record (fail closed)
		}
		for rows.Next() {
			var n, v string
			if rows.Scan(&n, &v) == nil {
				values[n] = v == "on"
			}
		}
		rows.Close()
		l.settings.values, l.settings.loaded = values, now
	}
	on, set := l.settings.values[name]
	return !set || on
}

// Settings lists the settings and their values.
func (l *Log) Settings(ctx context.Context) []Setting {
	return []Setting{{Name: SettingOwnViews, Label: settingLabels[SettingOwnViews], On: l.recording(ctx, SettingOwnViews)}}
}

// ChangeSetting sets what is recorded. Only the security officer may; the
// change is recorded whatever it is.
func (l *Log) ChangeSetting(ctx context.Context, by access.Actor, name string, on bool) error {
	if _, ok := settingLabels[name]; !ok {
		return fault.E(fault.Invalid, "There is no such setting.", nil)
	}
	if by.Role != access.Security || by.UserID == "" {
		if err := l.Record(ctx, nil, Event{Type: "audit.settings.change", Outcome: Denied, Actor: by, Category: access.AuditLog, Action: access.Update, Reason: name}); err != nil {
			return err
		}
		return access.ErrDenied
	}
	value := map[bool]string{true: "on", false: "off"}[on]
	err := l.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_settings (name, value, changed_by, changed_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, changed_by = excluded.changed_by, changed_at = excluded.changed_at`,
			name, value, by.UserID, l.Clock.Now().UnixMilli()); err != nil {
			return err
		}
		return l.append(ctx, tx, Event{Type: "audit.settings.change", Outcome: Success, Actor: by, Category: access.AuditLog, Action: access.Update, Reason: name + "=" + value})
	})
	l.settings.mu.Lock()
	l.settings.values = nil
	l.settings.mu.Unlock()
	return err
}

// skip reports whether a setting leaves e out.
func (l *Log) skip(ctx context.Context, e Event) bool {
	own := e.Outcome == Success && e.PatientID != "" && (e.Actor.Role == access.Patient && e.Actor.PatientID == e.PatientID || e.Actor.Role == access.Proxy) &&
		e.Action == access.View && (e.Category == access.Results || e.Category == access.Demographics)
	return own && !l.recording(ctx, SettingOwnViews)
}
