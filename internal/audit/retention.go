package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"uroportal/internal/access"
	"uroportal/internal/fault"
)

// DefaultRetention is how long events are kept: six years, as HIPAA asks of
// security documentation.
const DefaultRetention = 6 * 365 * 24 * time.Hour

// archiveHeader opens an archive file: the signed checkpoint the archived
// events end at, so the file verifies on its own.
type archiveHeader struct {
	Format    string `json:"format"`
	TreeSize  int64  `json:"tree_size"`
	Root      string `json:"root"`
	At        int64  `json:"checkpoint_at"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"`
}

type archivedEvent struct {
	Stored
	MAC string `json:"mac"`
}

// ArchiveResult says what Archive wrote.
type ArchiveResult struct {
	Events int64
	SHA256 string
}

// Archive writes every event up to the newest signed checkpoint that lies
// wholly before cutoff to path, then reads the file back and checks it
// against the checkpoint. The cutoff must be outside the retention period.
// The log must verify first. Nothing is deleted here; see Purge.
func (l *Log) Archive(ctx context.Context, cutoff time.Time, retention time.Duration, path string) (ArchiveResult, error) {
	if retention < DefaultRetention {
		retention = DefaultRetention
	}
	if limit := l.Clock.Now().Add(-retention); cutoff.After(limit) {
		return ArchiveResult{}, fault.Errorf(fault.Invalid, "events are kept for %d years: choose a date before %s", int(retention.Hours()/24/365), limit.Format("2006-01-02"))
	}
	rep, err := Verify(ctx, l.DB, l.Signer)
	if err != nil {
		return ArchiveResult{}, err
	}
	if rep.Problem != nil {
		return ArchiveResult{}, fmt.Errorf("the audit log does not verify, so nothing is archived: %w", rep.Problem)
	}
	var h archiveHeader
	var root, sig []byte
	err = l.DB.QueryRowContext(ctx, `SELECT c.tree_size, c.root, c.at, c.key_id, c.signature FROM audit_checkpoints c
		JOIN audit_events e ON e.seq = c.tree_size WHERE e.at < $1 ORDER BY c.tree_size DESC LIMIT 1`, cutoff.UnixMilli()).Scan(&h.TreeSize, &root, &h.At, &h.KeyID, &sig)
	if errors.Is(err, sql.ErrNoRows) {
		return ArchiveResult{}, nil // nothing old enough
	}
	if err != nil {
		return ArchiveResult{}, err
	}
	h.Format, h.Root, h.Signature, h.PublicKey = "uroportal-audit-archive-v1", hex.EncodeToString(root), hex.EncodeToString(sig), hex.EncodeToString(l.Signer.Public)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return ArchiveResult{}, fmt.Errorf("cannot create the archive %s: %w", path, err)
	}
	werr := l.writeArchive(ctx, f, h)
	if err := f.Sync(); werr == nil {
		werr = err
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		os.Remove(path)
		return ArchiveResult{}, werr
	}
	n, sum, err := VerifyArchive(path, l.Signer)
	if err != nil {
		os.Remove(path)
		return ArchiveResult{}, fmt.Errorf("the archive did not verify after writing, so it was removed: %w", err)
	}
	return ArchiveResult{Events: n, SHA256: sum}, nil
}

func (l *Log) writeArchive(ctx context.Context, w io.Writer, h archiveHeader) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(h); err != nil {
		return err
	}
	rows, err := l.DB.QueryContext(ctx, `SELECT `+rowCols+`, mac FROM audit_events WHERE seq <= $1 ORDER BY seq`, h.TreeSize)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r row
		var seq sql.NullInt64
		var mac []byte
		if err := scanRow(rows, &r, &seq, &mac); err != nil {
			return err
		}
		if err := enc.Encode(archivedEvent{Stored: storedOf(r), MAC: hex.EncodeToString(mac)}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

// VerifyArchive checks an archive on its own: every event's seal and place,
// and the Merkle root against the signed checkpoint in its header. It
// returns the number of events and the file's SHA-256.
func VerifyArchive(path string, s *Signer) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	hasher := sha256.New()
	sc := bufio.NewScanner(io.TeeReader(f, hasher))
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	if !sc.Scan() {
		return 0, "", errors.New("empty archive")
	}
	var h archiveHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Format != "uroportal-audit-archive-v1" {
		return 0, "", errors.New("not a uroportal audit archive")
	}
	fr := &frontier{}
	for sc.Scan() {
		var e archivedEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return 0, "", fmt.Errorf("archive line %d: %w", fr.size+2, err)
		}
		r := row{Seq: e.Seq, ID: e.ID, At: e.At.UnixMilli(), Type: e.Type, Outcome: e.Outcome, ActorID: e.ActorID, ActorRole: e.ActorRole, ActingFor: e.ActingFor,
			PatientID: e.PatientID, Category: e.Category, Action: e.Action, ObjectIDs: e.ObjectIDs, RequestID: e.RequestID, SourceIP: e.SourceIP,
			UserAgent: e.UserAgent, Reason: e.Reason, Node: e.Node}
		mac, _ := hex.DecodeString(e.MAC)
		enc := r.encode()
		if r.Seq != fr.size+1 || !hmac.Equal(mac, s.seal(enc)) {
			return 0, "", &Problem{Index: fr.size + 1, What: "altered, missing or out of order in the archive"}
		}
		fr.add(leafHash(enc))
	}
	if err := sc.Err(); err != nil {
		return 0, "", err
	}
	root := fr.root()
	sig, _ := hex.DecodeString(h.Signature)
	if fr.size != h.TreeSize || hex.EncodeToString(root[:]) != h.Root || !ed25519.Verify(s.Public, checkpointMessage(h.TreeSize, root, h.At), sig) {
		return 0, "", errors.New("the archive does not match its signed checkpoint")
	}
	return fr.size, hex.EncodeToString(hasher.Sum(nil)), nil
}

// Purge deletes the events an archive holds, after checking the archive
// again, and records that it did. The log keeps verifying from the
// archive's checkpoint on. Only the security officer may purge.
func (l *Log) Purge(ctx context.Context, by access.Actor, path string, retention time.Duration) (int64, error) {
	if by.Role != access.Security && by.UserID != "system:cli" {
		return 0, access.ErrDenied
	}
	if retention < DefaultRetention {
		retention = DefaultRetention
	}
	n, sum, err := VerifyArchive(path, l.Signer)
	if err != nil {
		return 0, err
	}
	var newest int64
	if err := l.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(at), 0) FROM audit_events WHERE seq <= $1`, n).Scan(&newest); err != nil {
		return 0, err
	}
	if time.UnixMilli(newest).After(l.Clock.Now().Add(-retention)) {
		return 0, fault.E(fault.Invalid, "That archive holds events still inside the retention period; they are not removed.", nil)
	}
	err = l.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := l.lock(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq <= $1`, n); err != nil {
			return err
		}
		return l.append(ctx, tx, Event{Type: "audit.purge", Outcome: Success, Actor: by, Category: access.AuditLog, Action: "delete",
			Reason: fmt.Sprintf("events 1 to %d archived (sha256 %s) and removed", n, sum)})
	})
	return n, err
}
