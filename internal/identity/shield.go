package identity

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// shield is a per-node, in-memory limiter in front of the database's
// sign-in buckets. The database stays the authority that every node shares;
// the shield only stops a flood from one address before it reaches the
// database at all, so that throttle and audit writes under attack cannot
// queue up behind SQLite's single writer and slow every other request.
// It allows what the shared per-address bucket allows, so on its own it
// never refuses an attempt the database would let through.
type shield struct {
	mu      sync.Mutex
	per     rate.Limit
	burst   int
	max     int
	entries map[string]*shieldEntry
}

type shieldEntry struct {
	lim      *rate.Limiter
	seen     time.Time
	dropped  int
	reported time.Time
}

func newShield(b Bucket, max int) *shield {
	return &shield{per: rate.Limit(b.Per), burst: int(b.Capacity), max: max, entries: map[string]*shieldEntry{}}
}

// allow reports whether an attempt from ip may go on to the database. When
// it refuses, report says whether to write an audit event now (at most one
// a minute per address), with the number of attempts refused since the
// last one.
func (s *shield) allow(ip string, now time.Time) (ok bool, report bool, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[ip]
	if e == nil {
		if len(s.entries) >= s.max {
			s.evict(now)
		}
		e = &shieldEntry{lim: rate.NewLimiter(s.per, s.burst)}
		s.entries[ip] = e
	}
	e.seen = now
	if e.lim.AllowN(now, 1) {
		return true, false, 0
	}
	e.dropped++
	if now.Sub(e.reported) >= time.Minute {
		dropped, e.dropped, e.reported = e.dropped, 0, now
		return false, true, dropped
	}
	return false, false, 0
}

// evict drops entries idle long enough to have refilled, or, if none are,
// half of the table: memory stays bounded whatever the attacker sends.
func (s *shield) evict(now time.Time) {
	full := time.Duration(float64(s.burst)/float64(s.per)) * time.Second
	for k, e := range s.entries {
		if now.Sub(e.seen) > full {
			delete(s.entries, k)
		}
	}
	if len(s.entries) < s.max {
		return
	}
	n := 0
	for k := range s.entries {
		if n >= s.max/2 {
			break
		}
		delete(s.entries, k)
		n++
	}
}
