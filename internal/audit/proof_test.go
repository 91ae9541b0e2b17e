package audit_test

import (
	"context"
	"testing"

	"uroportal/internal/audit"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

func TestProofs(t *testing.T) {
	db := storetest.MustOpen(t, store.SQLite)
	ctx := context.Background()
	l := newLog(t, db)
	fill(t, l) // checkpoints at 30 and 50
	heads, err := l.Heads(ctx, 10)
	if err != nil || len(heads) != 2 || heads[0].Size != 50 || heads[1].Size != 30 {
		t.Fatalf("heads: %+v %v", heads, err)
	}
	root50, root30 := heads[0].Root, heads[1].Root
	for _, idx := range []int64{1, 2, 17, 30, 31, 49, 50} {
		proof, err := l.InclusionProof(ctx, idx, 50)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := l.LeafHash(ctx, idx)
		if err := audit.VerifyInclusion(idx, 50, leaf, proof, root50); err != nil {
			t.Fatalf("event %d: %v", idx, err)
		}
		if err := audit.VerifyInclusion(idx, 50, leaf, proof, root30); err == nil {
			t.Fatalf("event %d verified against the wrong root", idx)
		}
	}
	proof, err := l.ConsistencyProof(ctx, 30, 50)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyConsistency(30, 50, root30, root50, proof); err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyConsistency(30, 50, root50, root30, proof); err == nil {
		t.Fatal("a swapped consistency proof verified")
	}
	// Every pair of sizes, against roots computed independently.
	for from := int64(1); from <= 20; from++ {
		for to := from; to <= 20; to++ {
			p, err := l.ConsistencyProof(ctx, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if err := audit.VerifyConsistency(from, to, rootOf(t, l, from), rootOf(t, l, to), p); err != nil {
				t.Fatalf("consistency %d→%d: %v", from, to, err)
			}
		}
	}
}

// rootOf computes a tree head from the leaf hashes, the slow way.
func rootOf(t *testing.T, l *audit.Log, n int64) []byte {
	t.Helper()
	var leaves [][]byte
	for i := int64(1); i <= n; i++ {
		h, err := l.LeafHash(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, h)
	}
	return audit.RootOf(leaves)
}
