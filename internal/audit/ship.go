package audit

import (
	"bufio"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// A Sink receives audit events in order. Write must return only once the
// events are durably handed over (flushed, synced or acknowledged by TCP).
type Sink interface {
	Name() string
	Write(ctx context.Context, events []Stored) error
	Close() error
}

// Shipper streams the log to a sink from a cursor kept in the database:
// events are read after the cursor, written, and only then is the cursor
// moved. A crash between the two sends the last batch again on restart, so
// each event carries its seq for the collector to drop a repeat; the JSON
// lines file sink does that itself by reading its own last line.
type Shipper struct {
	Log   *Log
	Sink  Sink
	Node  string
	Batch int
	Lease time.Duration
}

// ShipOnce sends what is new. Only the node holding the sink's lease ships;
// others return at once. It returns how many events it sent.
func (s *Shipper) ShipOnce(ctx context.Context) (int, error) {
	db := s.Log.DB
	now := s.Log.Clock.Now().UnixMilli()
	lease := max(s.Lease, 30*time.Second).Milliseconds()
	if _, err := db.ExecContext(ctx, `INSERT INTO audit_ship_cursor (name, last_seq, holder, lease_until) VALUES ($1, 0, '', 0) ON CONFLICT (name) DO NOTHING`, s.Sink.Name()); err != nil {
		return 0, err
	}
	res, err := db.ExecContext(ctx, `UPDATE audit_ship_cursor SET holder = $1, lease_until = $2 WHERE name = $3 AND (lease_until < $4 OR holder = $1)`,
		s.Node, now+lease, s.Sink.Name(), now)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return 0, nil // another node ships this stream
	}
	var cursor int64
	if err := db.QueryRowContext(ctx, `SELECT last_seq FROM audit_ship_cursor WHERE name = $1`, s.Sink.Name()).Scan(&cursor); err != nil {
		return 0, err
	}
	if r, ok := s.Sink.(interface{ Resume(int64) int64 }); ok {
		cursor = r.Resume(cursor)
	}
	batch := s.Batch
	if batch <= 0 {
		batch = 500
	}
	sent := 0
	for {
		rows, err := db.QueryContext(ctx, `SELECT `+rowCols+` FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, cursor, batch)
		if err != nil {
			return sent, err
		}
		var events []Stored
		for rows.Next() {
			var r row
			var seq sql.NullInt64
			if err := scanRow(rows, &r, &seq); err != nil {
				rows.Close()
				return sent, err
			}
			events = append(events, storedOf(r))
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(events) == 0 {
			return sent, err
		}
		if err := s.Sink.Write(ctx, events); err != nil {
			return sent, fmt.Errorf("audit: ship to %s: %w", s.Sink.Name(), err)
		}
		cursor = events[len(events)-1].Seq
		if _, err := db.ExecContext(ctx, `UPDATE audit_ship_cursor SET last_seq = $1 WHERE name = $2 AND holder = $3`, cursor, s.Sink.Name(), s.Node); err != nil {
			return sent, err
		}
		sent += len(events)
	}
}

// Run ships every interval until ctx ends.
func (s *Shipper) Run(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.ShipOnce(ctx); err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			s.Sink.Close()
			return
		case <-t.C:
		}
	}
}

func storedOf(r row) Stored {
	return Stored{ID: r.ID, Seq: r.Seq, At: time.UnixMilli(r.At).UTC(), Type: r.Type, Outcome: r.Outcome, ActorID: r.ActorID, ActorRole: r.ActorRole,
		ActingFor: r.ActingFor, PatientID: r.PatientID, Category: r.Category, Action: r.Action, ObjectIDs: r.ObjectIDs,
		RequestID: r.RequestID, SourceIP: r.SourceIP, UserAgent: r.UserAgent, Reason: r.Reason, Node: r.Node}
}

// JSONLines appends events as JSON lines to a file (synced after each
// batch), or writes them to standard output when Path is "-".
type JSONLines struct {
	Path string
	f    *os.File
}

// Name implements Sink.
func (j *JSONLines) Name() string { return "jsonl:" + j.Path }

func (j *JSONLines) open() error {
	if j.f != nil {
		return nil
	}
	if j.Path == "-" {
		j.f = os.Stdout
		return nil
	}
	f, err := os.OpenFile(j.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	j.f = f
	return nil
}

// Resume moves the cursor past events already in the file (a crash after
// writing, before the cursor moved), so none is written twice.
func (j *JSONLines) Resume(cursor int64) int64 {
	if j.Path == "-" {
		return cursor
	}
	f, err := os.Open(j.Path)
	if err != nil {
		return cursor
	}
	defer f.Close()
	var last int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct{ Seq int64 }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Seq > last {
			last = e.Seq
		}
	}
	return max(cursor, last)
}

// Write implements Sink.
func (j *JSONLines) Write(_ context.Context, events []Stored) error {
	if err := j.open(); err != nil {
		return err
	}
	w := bufio.NewWriter(j.f)
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if j.f == os.Stdout {
		return nil
	}
	return j.f.Sync()
}

// Close implements Sink.
func (j *JSONLines) Close() error {
	if j.f == nil || j.f == os.Stdout {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Syslog sends events as RFC 5424 messages over TLS (RFC 5425 framing).
type Syslog struct {
	Addr     string
	TLS      *tls.Config
	Hostname string
	conn     *tls.Conn
}

// Name implements Sink.
func (s *Syslog) Name() string { return "syslog:" + s.Addr }

// Write implements Sink.
func (s *Syslog) Write(ctx context.Context, events []Stored) error {
	if s.conn == nil {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: s.TLS}
		c, err := d.DialContext(ctx, "tcp", s.Addr)
		if err != nil {
			return err
		}
		s.conn = c.(*tls.Conn)
	}
	s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	for _, e := range events {
		msg := Format5424(e, s.Hostname)
		b.WriteString(strconv.Itoa(len(msg)))
		b.WriteByte(' ')
		b.WriteString(msg)
	}
	if _, err := io.WriteString(s.conn, b.String()); err != nil {
		s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

// Close implements Sink.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// Format5424 renders one event as an RFC 5424 message: facility authpriv,
// severity notice for refusals and failures, info otherwise; the fields in
// structured data; IDs only, no PHI.
func Format5424(e Stored, host string) string {
	sev := 6
	if e.Outcome != Success {
		sev = 5
	}
	if host == "" {
		host = "-"
	}
	sd := []string{"seq", strconv.FormatInt(e.Seq, 10), "type", e.Type, "outcome", e.Outcome, "actor", e.ActorID, "role", e.ActorRole,
		"acting_for", e.ActingFor, "patient", e.PatientID, "category", e.Category, "action", e.Action, "request", e.RequestID,
		"ip", e.SourceIP, "node", e.Node, "reason", e.Reason}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s uroportal - %s [uroportal@32473", 10*8+sev, e.At.Format("2006-01-02T15:04:05.000Z"), sdName(host), sdName(e.Type))
	for i := 0; i < len(sd); i += 2 {
		if sd[i+1] == "" {
			continue
		}
		fmt.Fprintf(&b, ` %s="%s"`, sd[i], sdEscape(sd[i+1]))
	}
	b.WriteString("] uroportal audit event")
	return b.String()
}

func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// sdName keeps a header field to printable ASCII without spaces.
func sdName(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c <= 32 || c >= 127 {
			out[i] = '_'
		}
	}
	if len(out) > 32 {
		out = out[:32]
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}
