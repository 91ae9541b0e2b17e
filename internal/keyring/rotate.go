package keyring

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Table lists the encrypted columns of one table. Rows are keyed by a text
// column "id", which is also the Row of each ciphertext's Field.
type Table struct {
	Name    string
	Columns []string
}

// KeyInfo describes one data key for `keys status`.
type KeyInfo struct {
	Version   uint32
	Purpose   string
	State     string
	KEKID     string
	CreatedAt int64
	// Fields counts the ciphertexts sealed under this version (field keys).
	Fields int64
}

// Rotate makes a new primary field key. Existing ciphertexts stay under
// their old versions until Rewrap.
func (k *Keyring) Rotate(ctx context.Context) (uint32, error) {
	var v uint32
	err := k.db.InTx(ctx, func(tx *sql.Tx) (err error) {
		v, err = k.insertKey(ctx, tx, purposeFld)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("keyring: rotate: %w", err)
	}
	return v, k.load(ctx)
}

func versionBytes(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

// Status lists every key with the number of fields under each field key.
func (k *Keyring) Status(ctx context.Context, tables []Table) ([]KeyInfo, error) {
	rows, err := k.db.QueryContext(ctx, `SELECT version, purpose, state, kek_id, created_at FROM data_keys ORDER BY version`)
	if err != nil {
		return nil, err
	}
	var out []KeyInfo
	for rows.Next() {
		var ki KeyInfo
		var v int64
		if err := rows.Scan(&v, &ki.Purpose, &ki.State, &ki.KEKID, &ki.CreatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		ki.Version = uint32(v)
		out = append(out, ki)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Purpose != purposeFld || out[i].State == "retired" {
			continue
		}
		n, err := k.countUnder(ctx, tables, out[i].Version)
		if err != nil {
			return nil, err
		}
		out[i].Fields = n
	}
	return out, nil
}

// countUnder counts ciphertexts sealed under version across tables. Bytes 2
// to 5 of a ciphertext are its key version; substr works on BLOB in SQLite and
// on bytea in PostgreSQL.
func (k *Keyring) countUnder(ctx context.Context, tables []Table, version uint32) (int64, error) {
	var total int64
	vb := versionBytes(version)
	for _, t := range tables {
		for _, c := range t.Columns {
			var n int64
			q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE substr(%s, 2, 4) = $1`, t.Name, c)
			if err := k.db.QueryRowContext(ctx, q, vb).Scan(&n); err != nil {
				return 0, fmt.Errorf("keyring: count %s.%s: %w", t.Name, c, err)
			}
			total += n
		}
	}
	return total, nil
}

// Retire destroys an old field key. It refuses the primary and any version
// that a field still uses (run rewrap first).
func (k *Keyring) Retire(ctx context.Context, tables []Table, version uint32) error {
	var state, purpose string
	err := k.db.QueryRowContext(ctx, `SELECT state, purpose FROM data_keys WHERE version = $1`, int64(version)).Scan(&state, &purpose)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("there is no key version %d; `uroportal keys status` lists them", version)
	}
	if err != nil {
		return err
	}
	switch {
	case purpose != purposeFld:
		return fmt.Errorf("key version %d is the blind-index key, which is not retired this way", version)
	case state == "primary":
		return fmt.Errorf("key version %d is the primary key; run `uroportal keys rotate` and `uroportal keys rewrap` first", version)
	case state == "retired":
		return fmt.Errorf("key version %d is already retired", version)
	}
	n, err := k.countUnder(ctx, tables, version)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("key version %d still encrypts %d fields; run `uroportal keys rewrap` and try again", version, n)
	}
	_, err = k.db.ExecContext(ctx, `UPDATE data_keys SET state = 'retired', wrapped = NULL, retired_at = $1 WHERE version = $2 AND state = 'active'`,
		k.clock.Now().UnixMilli(), int64(version))
	if err != nil {
		return err
	}
	return k.load(ctx)
}

// RewrapOptions tunes Rewrap.
type RewrapOptions struct {
	// Batch is how many rows one transaction rewraps (default 200), short so
	// the serving nodes' writes are never held up for long.
	Batch int
	// Progress, if set, is told the rows done and the rows in all tables.
	Progress func(done, total int64)
	// Pause between batches (default 20ms) leaves the database's write lock
	// free for the serving nodes: SQLite has one writer at a time, and a
	// rewrap that never lets go would stall every audited request.
	Pause time.Duration
}

// Rewrap re-encrypts every field of tables that is not under the primary key.
// It works in short batches while the server keeps serving, records its place
// after every batch so a crashed run resumes where it stopped, and only
// replaces a ciphertext that has not changed since it read it. It returns the
// number of fields rewrapped.
func (k *Keyring) Rewrap(ctx context.Context, tables []Table, opt RewrapOptions) (int64, error) {
	if opt.Batch <= 0 {
		opt.Batch = 200
	}
	if opt.Pause <= 0 {
		opt.Pause = 20 * time.Millisecond
	}
	if err := k.load(ctx); err != nil {
		return 0, err
	}
	target := k.Primary()
	var total, done int64
	for _, t := range tables {
		var n int64
		if err := k.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t.Name).Scan(&n); err != nil {
			return 0, err
		}
		total += n
	}
	var rewrapped int64
	for _, t := range tables {
		n, rows, err := k.rewrapTable(ctx, t, target, opt, func(rows int64) {
			if opt.Progress != nil {
				opt.Progress(done+rows, total)
			}
		})
		rewrapped += n
		done += rows
		if err != nil {
			return rewrapped, err
		}
	}
	if opt.Progress != nil {
		opt.Progress(total, total)
	}
	_, err := k.db.ExecContext(ctx, `DELETE FROM key_rewrap_progress WHERE target_version = $1`, int64(target))
	return rewrapped, err
}

func (k *Keyring) rewrapTable(ctx context.Context, t Table, target uint32, opt RewrapOptions, progress func(int64)) (fields, rows int64, err error) {
	var after string
	err = k.db.QueryRowContext(ctx, `SELECT last_id FROM key_rewrap_progress WHERE target_version = $1 AND table_name = $2`, int64(target), t.Name).Scan(&after)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, err
	}
	if after != "" {
		// Resuming: count the rows already behind us for the progress bar.
		if err := k.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t.Name+` WHERE id <= $1`, after).Scan(&rows); err != nil {
			return 0, 0, err
		}
	}
	cols := strings.Join(t.Columns, ", ")
	sel := fmt.Sprintf(`SELECT id, %s FROM %s WHERE id > $1 ORDER BY id LIMIT %d`, cols, t.Name, opt.Batch)
	for {
		batch, err := k.readBatch(ctx, sel, len(t.Columns), after)
		if err != nil {
			return fields, rows, err
		}
		if len(batch) == 0 {
			return fields, rows, nil
		}
		n, err := k.rewrapBatch(ctx, t, target, batch)
		if err != nil {
			return fields, rows, err
		}
		fields += n
		rows += int64(len(batch))
		after = batch[len(batch)-1].id
		progress(rows)
		select {
		case <-ctx.Done():
			return fields, rows, ctx.Err()
		case <-time.After(opt.Pause):
		}
	}
}

type rewrapRow struct {
	id   string
	vals [][]byte
}

func (k *Keyring) readBatch(ctx context.Context, q string, ncol int, after string) ([]rewrapRow, error) {
	rs, err := k.db.QueryContext(ctx, q, after)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []rewrapRow
	for rs.Next() {
		r := rewrapRow{vals: make([][]byte, ncol)}
		dest := []any{&r.id}
		for i := range r.vals {
			dest = append(dest, &r.vals[i])
		}
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// rewrapBatch re-seals the batch's stale fields in one transaction together
// with the progress record.
func (k *Keyring) rewrapBatch(ctx context.Context, t Table, target uint32, batch []rewrapRow) (int64, error) {
	k.mu.RLock()
	aead := k.field[target]
	k.mu.RUnlock()
	var n int64
	err := k.db.InTx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, r := range batch {
			for i, ct := range r.vals {
				if ct == nil {
					continue
				}
				if v, err := Version(ct); err == nil && v == target {
					continue
				}
				f := Field{t.Name, t.Columns[i], r.id}
				pt, err := k.Decrypt(ctx, f, ct)
				if err != nil {
					return err
				}
				nct, err := k.seal(target, aead, f, pt)
				if err != nil {
					return err
				}
				// Compare-and-swap: a value the server rewrote meanwhile is
				// already under a current key and is left alone.
				q := fmt.Sprintf(`UPDATE %s SET %s = $1 WHERE id = $2 AND %s = $3`, t.Name, t.Columns[i], t.Columns[i])
				res, err := tx.ExecContext(ctx, q, nct, r.id, ct)
				if err != nil {
					return err
				}
				if c, _ := res.RowsAffected(); c == 1 {
					n++
				}
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO key_rewrap_progress (target_version, table_name, last_id, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (target_version, table_name) DO UPDATE SET last_id = excluded.last_id, updated_at = excluded.updated_at`,
			int64(target), t.Name, batch[len(batch)-1].id, k.clock.Now().UnixMilli())
		return err
	})
	return n, err
}
