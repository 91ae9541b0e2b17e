package audit

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"

	"uroportal/internal/fault"
)

// Proofs let an outside witness that pinned a checkpoint check that a later
// one extends it (consistency) and that an event is in the tree
// (inclusion), as RFC 6962 section 2.1 defines them.

// leaves reads the leaf hashes of events 1..n, checking each seal.
func (l *Log) leaves(ctx context.Context, n int64) ([]hash, error) {
	rows, err := l.DB.QueryContext(ctx, `SELECT `+rowCols+`, mac FROM audit_events WHERE seq >= 1 AND seq <= $1 ORDER BY seq`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]hash, 0, n)
	for rows.Next() {
		var r row
		var seq sql.NullInt64
		var mac []byte
		if err := scanRow(rows, &r, &seq, &mac); err != nil {
			return nil, err
		}
		enc := r.encode()
		if r.Seq != int64(len(out))+1 || !hmac.Equal(mac, l.Signer.seal(enc)) {
			return nil, fmt.Errorf("audit: event %d is not as it was written", len(out)+1)
		}
		out = append(out, leafHash(enc))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if int64(len(out)) != n {
		return nil, fault.E(fault.NotFound, "The log does not have that many events.", nil)
	}
	return out, nil
}

// mth is the Merkle tree head of leaves.
func mth(d []hash) hash {
	f := &frontier{}
	for _, h := range d {
		f.add(h)
	}
	return f.root()
}

// split is the largest power of two smaller than n.
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

func path(m int, d []hash) []hash {
	n := len(d)
	if n <= 1 {
		return nil
	}
	k := split(n)
	if m < k {
		return append(path(m, d[:k]), mth(d[k:]))
	}
	return append(path(m-k, d[k:]), mth(d[:k]))
}

func subproof(m int, d []hash, b bool) []hash {
	n := len(d)
	if m == n {
		if b {
			return nil
		}
		return []hash{mth(d)}
	}
	k := split(n)
	if m <= k {
		return append(subproof(m, d[:k], b), mth(d[k:]))
	}
	return append(subproof(m-k, d[k:], false), mth(d[:k]))
}

// InclusionProof proves event index (1-based) is in the tree of size.
func (l *Log) InclusionProof(ctx context.Context, index, size int64) ([][]byte, error) {
	if index < 1 || index > size {
		return nil, fault.E(fault.Invalid, "index must be from 1 to size", nil)
	}
	d, err := l.leaves(ctx, size)
	if err != nil {
		return nil, err
	}
	return toBytes(path(int(index-1), d)), nil
}

// ConsistencyProof proves the tree of size to extends the tree of size from.
func (l *Log) ConsistencyProof(ctx context.Context, from, to int64) ([][]byte, error) {
	if from < 1 || from > to {
		return nil, fault.E(fault.Invalid, "from must be from 1 to to", nil)
	}
	d, err := l.leaves(ctx, to)
	if err != nil {
		return nil, err
	}
	return toBytes(subproof(int(from), d, true)), nil
}

func toBytes(hs []hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// VerifyInclusion checks an inclusion proof (RFC 9162 2.1.3.2), for
// witnesses and tests.
func VerifyInclusion(index, size int64, leaf []byte, proof [][]byte, root []byte) error {
	fn, sn := index-1, size-1
	var r hash
	copy(r[:], leaf)
	for _, p := range proof {
		var ph hash
		copy(ph[:], p)
		if sn == 0 {
			return errors.New("proof too long")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(ph, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, ph)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || !hmac.Equal(r[:], root) {
		return errors.New("inclusion proof does not verify")
	}
	return nil
}

// VerifyConsistency checks a consistency proof (RFC 9162 2.1.4.2).
func VerifyConsistency(from, to int64, fromRoot, toRoot []byte, proof [][]byte) error {
	if from == to {
		if len(proof) == 0 && hmac.Equal(fromRoot, toRoot) {
			return nil
		}
		return errors.New("consistency proof does not verify")
	}
	p := make([]hash, 0, len(proof)+1)
	if from&(from-1) == 0 { // a power of two: the old root is the first node
		var h hash
		copy(h[:], fromRoot)
		p = append(p, h)
	}
	for _, b := range proof {
		var h hash
		copy(h[:], b)
		p = append(p, h)
	}
	if len(p) == 0 {
		return errors.New("empty proof")
	}
	fn, sn := from-1, to-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := p[0], p[0]
	for _, c := range p[1:] {
		if sn == 0 {
			return errors.New("proof too long")
		}
		if fn&1 == 1 || fn == sn {
			fr, sr = nodeHash(c, fr), nodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = nodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || !hmac.Equal(fr[:], fromRoot) || !hmac.Equal(sr[:], toRoot) {
		return errors.New("consistency proof does not verify")
	}
	return nil
}

// Checkpoint is a signed tree head, as witnesses fetch it.
type SignedHead struct {
	Size      int64  `json:"tree_size"`
	Root      []byte `json:"root"`
	At        int64  `json:"timestamp_ms"`
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"`
}

// Heads lists the signed checkpoints, newest first.
func (l *Log) Heads(ctx context.Context, limit int) ([]SignedHead, error) {
	rows, err := l.DB.QueryContext(ctx, `SELECT tree_size, root, at, key_id, signature FROM audit_checkpoints ORDER BY tree_size DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SignedHead
	for rows.Next() {
		var h SignedHead
		if err := rows.Scan(&h.Size, &h.Root, &h.At, &h.KeyID, &h.Signature); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// LeafHash returns the leaf hash of event index, for inclusion checks.
func (l *Log) LeafHash(ctx context.Context, index int64) ([]byte, error) {
	var r row
	var seq sql.NullInt64
	err := scanRow(l.DB.QueryRowContext(ctx, `SELECT `+rowCols+` FROM audit_events WHERE seq = $1`, index), &r, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.E(fault.NotFound, "No such event.", nil)
	}
	if err != nil {
		return nil, err
	}
	h := leafHash(r.encode())
	return h[:], nil
}

// RootOf is the RFC 6962 tree head of leaf hashes (for witnesses and tests).
func RootOf(leaves [][]byte) []byte {
	d := make([]hash, len(leaves))
	for i := range leaves {
		copy(d[i][:], leaves[i])
	}
	h := mth(d)
	return h[:]
}
