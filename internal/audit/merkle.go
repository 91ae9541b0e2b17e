package audit

import (
	"crypto/sha256"
	"errors"
)

// An RFC 6962 Merkle tree over the events: leaf hash H(0x00 || event),
// node hash H(0x01 || left || right). The frontier is the list of perfect
// subtrees that make up a tree of any size (its size in binary), enough to
// append leaves and compute the root without the rest of the tree.

type hash = [sha256.Size]byte

func leafHash(enc []byte) hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(enc)
	var out hash
	h.Sum(out[:0])
	return out
}

func nodeHash(l, r hash) hash {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l[:])
	h.Write(r[:])
	var out hash
	h.Sum(out[:0])
	return out
}

type subtree struct {
	height uint8
	h      hash
}

// frontier is an append-only Merkle tree reduced to its right edge.
type frontier struct {
	size  int64
	nodes []subtree
}

func (f *frontier) add(leaf hash) {
	f.nodes = append(f.nodes, subtree{0, leaf})
	f.size++
	for n := len(f.nodes); n >= 2 && f.nodes[n-1].height == f.nodes[n-2].height; n = len(f.nodes) {
		merged := subtree{f.nodes[n-2].height + 1, nodeHash(f.nodes[n-2].h, f.nodes[n-1].h)}
		f.nodes = append(f.nodes[:n-2], merged)
	}
}

// root is the RFC 6962 tree head of the leaves added so far.
func (f *frontier) root() hash {
	if len(f.nodes) == 0 {
		return sha256.Sum256(nil)
	}
	r := f.nodes[len(f.nodes)-1].h
	for i := len(f.nodes) - 2; i >= 0; i-- {
		r = nodeHash(f.nodes[i].h, r)
	}
	return r
}

func (f *frontier) marshal() []byte {
	out := make([]byte, 0, len(f.nodes)*33)
	for _, n := range f.nodes {
		out = append(out, n.height)
		out = append(out, n.h[:]...)
	}
	return out
}

func unmarshalFrontier(size int64, b []byte) (*frontier, error) {
	if len(b)%33 != 0 {
		return nil, errors.New("audit: malformed frontier")
	}
	f := &frontier{size: size}
	var total int64
	for i := 0; i < len(b); i += 33 {
		var n subtree
		n.height = b[i]
		copy(n.h[:], b[i+1:i+33])
		f.nodes = append(f.nodes, n)
		total += 1 << n.height
	}
	if total != size {
		return nil, errors.New("audit: frontier does not match its tree size")
	}
	return f, nil
}
