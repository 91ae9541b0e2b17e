package keyring

import (
	"context"
	"crypto/cipher"
)

// Row seals or opens several columns of one row, keeping the first error, so
// a store method can handle a whole record and check Err once.
type Row struct {
	k       *Keyring
	ctx     context.Context
	table   string
	id      string
	version uint32
	aead    cipher.AEAD
	err     error
}

// Row starts work on one row of table.
func (k *Keyring) Row(ctx context.Context, table, id string) *Row {
	return &Row{k: k, ctx: ctx, table: table, id: id}
}

// Seal encrypts s for column, or returns nil after an earlier error.
func (r *Row) Seal(column, s string) []byte {
	if r.err != nil {
		return nil
	}
	if r.aead == nil {
		r.version, r.aead, r.err = r.k.primaryKey(r.ctx)
		if r.err != nil {
			return nil
		}
	}
	ct, err := r.k.seal(r.version, r.aead, Field{r.table, column, r.id}, []byte(s))
	if err != nil {
		r.err = err
	}
	return ct
}

// Open decrypts column's ciphertext, or returns "" after an earlier error.
func (r *Row) Open(column string, ct []byte) string {
	if r.err != nil {
		return ""
	}
	pt, err := r.k.Decrypt(r.ctx, Field{r.table, column, r.id}, ct)
	if err != nil {
		r.err = err
		return ""
	}
	return string(pt)
}

// Err is the first error met.
func (r *Row) Err() error { return r.err }
