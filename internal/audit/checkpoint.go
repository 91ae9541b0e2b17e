package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"uroportal/internal/store"
)

// checkpointMessage is what a checkpoint's signature covers.
func checkpointMessage(size int64, root hash, at int64) []byte {
	return []byte("uroportal audit checkpoint v1\n" + strconv.FormatInt(size, 10) + "\n" + hex.EncodeToString(root[:]) + "\n" + strconv.FormatInt(at, 10) + "\n")
}

// Checkpoint signs the tree head over every event so far, extending the
// last checkpoint's frontier with the events since. It refuses to sign a log
// whose new events do not carry valid seals. It returns the tree size.
func (l *Log) Checkpoint(ctx context.Context) (int64, error) {
	var size int64
	err := l.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := l.lock(ctx, tx); err != nil {
			return err
		}
		f := &frontier{}
		var fb []byte
		err := tx.QueryRowContext(ctx, `SELECT tree_size, frontier FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1`).Scan(&f.size, &fb)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			if f, err = unmarshalFrontier(f.size, fb); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+rowCols+`, mac FROM audit_events WHERE seq > $1 ORDER BY seq`, f.size)
		if err != nil {
			return err
		}
		defer rows.Close()
		added := false
		for rows.Next() {
			var r row
			var seq sql.NullInt64
			var mac []byte
			if err := scanRow(rows, &r, &seq, &mac); err != nil {
				return err
			}
			enc := r.encode()
			if r.Seq != f.size+1 || !hmac.Equal(mac, l.Signer.seal(enc)) {
				return fmt.Errorf("audit: event %d is not as it was written; run `uroportal audit verify`", f.size+1)
			}
			f.add(leafHash(enc))
			added = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		size = f.size
		if !added {
			return nil
		}
		root := f.root()
		at := l.Clock.Now().UnixMilli()
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (tree_size, root, frontier, at, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6)`,
			f.size, root[:], f.marshal(), at, l.Signer.ID, l.Signer.sign(checkpointMessage(f.size, root, at)))
		return err
	})
	return size, err
}

// RunCheckpoints signs a checkpoint every interval until ctx ends.
func (l *Log) RunCheckpoints(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := l.Checkpoint(ctx); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// Problem is the first thing wrong that Verify found.
type Problem struct {
	// Index is the place (1-based) of the first event that is not as it was
	// written, or is missing; for a bad checkpoint, its tree size.
	Index int64
	What  string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit log damaged at event %d: %s", p.Index, p.What)
}

// Report is what Verify checked.
type Report struct {
	Events      int64
	Checkpoints int
	Problem     *Problem
}

// Verify recomputes the whole log: every event's place and seal, the Merkle
// tree, and every signed checkpoint. It reports the first event that was
// altered, removed, inserted or reordered.
func Verify(ctx context.Context, db *store.DB, s *Signer) (Report, error) {
	var rep Report
	type cp struct {
		root      []byte
		at        int64
		signature []byte
	}
	cps := map[int64]cp{}
	var maxCP int64
	rows, err := db.QueryContext(ctx, `SELECT tree_size, root, at, signature FROM audit_checkpoints ORDER BY tree_size`)
	if err != nil {
		return rep, err
	}
	for rows.Next() {
		var size int64
		var c cp
		if err := rows.Scan(&size, &c.root, &c.at, &c.signature); err != nil {
			rows.Close()
			return rep, err
		}
		cps[size] = c
		maxCP = max(maxCP, size)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, err
	}
	var unsealed int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE seq IS NULL OR mac IS NULL`).Scan(&unsealed); err != nil {
		return rep, err
	}

	// A log whose oldest events were archived and purged starts from the
	// signed checkpoint the archive ended at (its frontier is kept).
	f := &frontier{}
	var first sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MIN(seq) FROM audit_events WHERE seq IS NOT NULL`).Scan(&first); err != nil {
		return rep, err
	}
	if first.Valid && first.Int64 > 1 {
		var fb []byte
		anchor := first.Int64 - 1
		err := db.QueryRowContext(ctx, `SELECT frontier FROM audit_checkpoints WHERE tree_size = $1`, anchor).Scan(&fb)
		if errors.Is(err, sql.ErrNoRows) {
			rep.Problem = &Problem{Index: 1, What: fmt.Sprintf("missing: the log starts at event %d with no signed checkpoint at %d to start from (removed events)", first.Int64, anchor)}
			return rep, nil
		}
		if err != nil {
			return rep, err
		}
		c, ok := cps[anchor]
		if f, err = unmarshalFrontier(anchor, fb); err != nil || !ok {
			rep.Problem = &Problem{Index: anchor, What: "the checkpoint the log starts from is damaged"}
			return rep, nil
		}
		root := f.root()
		if !hmac.Equal(root[:], c.root) || !ed25519.Verify(s.Public, checkpointMessage(anchor, root, c.at), c.signature) {
			rep.Problem = &Problem{Index: anchor, What: "the checkpoint the log starts from does not match its signature"}
			return rep, nil
		}
		rep.Checkpoints++
	}
	rows, err = db.QueryContext(ctx, `SELECT `+rowCols+`, mac FROM audit_events WHERE seq IS NOT NULL ORDER BY seq`)
	if err != nil {
		return rep, err
	}
	defer rows.Close()
	for rows.Next() {
		var r row
		var seq sql.NullInt64
		var mac []byte
		if err := scanRow(rows, &r, &seq, &mac); err != nil {
			return rep, err
		}
		want := f.size + 1
		if r.Seq != want {
			rep.Problem = &Problem{Index: want, What: fmt.Sprintf("missing: the log jumps from event %d to %d (removed events)", want-1, r.Seq)}
			return rep, nil
		}
		enc := r.encode()
		if !hmac.Equal(mac, s.seal(enc)) {
			rep.Problem = &Problem{Index: r.Seq, What: "altered, inserted or moved: its content does not match its seal"}
			return rep, nil
		}
		f.add(leafHash(enc))
		rep.Events = f.size
		if c, ok := cps[f.size]; ok {
			root := f.root()
			if !hmac.Equal(root[:], c.root) || !ed25519.Verify(s.Public, checkpointMessage(f.size, root, c.at), c.signature) {
				rep.Problem = &Problem{Index: f.size, What: "the signed checkpoint at this size does not match the events before it"}
				return rep, nil
			}
			rep.Checkpoints++
		}
	}
	if err := rows.Err(); err != nil {
		return rep, err
	}
	switch {
	case maxCP > f.size:
		rep.Problem = &Problem{Index: f.size + 1, What: fmt.Sprintf("missing: a signed checkpoint covers %d events but the log ends at %d (removed events)", maxCP, f.size)}
	case unsealed > 0:
		rep.Problem = &Problem{Index: f.size + 1, What: fmt.Sprintf("%d events have no place or seal (inserted directly into the database)", unsealed)}
	}
	return rep, nil
}
