package access

import (
	"context"
	"strings"
	"time"

	"uroportal/internal/store"
)

// AddToCareTeam puts a clinician or nurse on a patient's care team inside the
// caller's transaction.
func AddToCareTeam(ctx context.Context, q store.Querier, patientID, userID string, now time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO care_team (patient_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		patientID, userID, now.UnixMilli())
	return err
}

// AddProxy lets proxyUserID act for patientID within scope until expires.
func AddProxy(ctx context.Context, q store.Querier, proxyUserID, patientID string, scope []Category, expires, now time.Time) error {
	s := make([]string, len(scope))
	for i, c := range scope {
		s[i] = string(c)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO proxy_relations (proxy_user_id, patient_id, scope, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
		proxyUserID, patientID, strings.Join(s, ","), expires.UnixMilli(), now.UnixMilli())
	return err
}

// ActingFor lists the patients a proxy may currently act for.
func (p *Policy) ActingFor(ctx context.Context, proxyUserID string) ([]string, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT patient_id FROM proxy_relations WHERE proxy_user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at`,
		proxyUserID, p.clock.Now().UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
