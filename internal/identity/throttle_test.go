package identity

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"uroportal/internal/clock"
	"uroportal/internal/store"
	"uroportal/internal/store/storetest"
)

func TestThrottle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
		a := &Throttle{DB: db, Clock: clk, Key: []byte("k")}
		b := &Throttle{DB: db, Clock: clk, Key: []byte("k")} // a second node
		bucket := Bucket{Capacity: 5, Per: 1.0 / 60}
		// Ten concurrent takes from two nodes: exactly five succeed.
		var ok atomic.Int32
		var wg sync.WaitGroup
		for i := range 10 {
			node := a
			if i%2 == 1 {
				node = b
			}
			wg.Go(func() {
				took, _, err := node.Take(ctx, "ip:192.0.2.1", bucket)
				if err != nil {
					t.Error(err)
				}
				if took {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 5 {
			t.Fatalf("%d takes succeeded, want 5", ok.Load())
		}
		took, wait, _ := a.Take(ctx, "ip:192.0.2.1", bucket)
		if took || wait < 50*time.Second || wait > 61*time.Second {
			t.Fatalf("empty bucket: took=%v wait=%v", took, wait)
		}
		if took, _, _ := a.Take(ctx, "ip:192.0.2.2", bucket); !took {
			t.Fatal("another key shares the bucket")
		}
		clk.Advance(61 * time.Second)
		if took, _, _ := b.Take(ctx, "ip:192.0.2.1", bucket); !took {
			t.Fatal("no refill after a minute")
		}
		if took, _, _ := b.Take(ctx, "ip:192.0.2.1", bucket); took {
			t.Fatal("refilled more than one token in a minute")
		}
		clk.Advance(time.Hour)
		for i := range 5 {
			if took, _, _ := a.Take(ctx, "ip:192.0.2.1", bucket); !took {
				t.Fatalf("after an hour, take %d failed: the bucket did not refill to capacity", i)
			}
		}
		if took, _, _ := a.Take(ctx, "ip:192.0.2.1", bucket); took {
			t.Fatal("the bucket refilled beyond its capacity")
		}
	})
}
