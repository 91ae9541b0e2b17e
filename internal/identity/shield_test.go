package identity

import (
	"testing"
	"time"
)

func TestShield(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	s := newShield(Bucket{Capacity: 3, Per: 1}, 4)
	for i := range 3 {
		if ok, _, _ := s.allow("192.0.2.1", now); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, report, _ := s.allow("192.0.2.1", now)
	if ok || !report {
		t.Fatalf("over the burst: ok=%v report=%v; want refused and reported", ok, report)
	}
	for range 50 {
		if ok, report, _ := s.allow("192.0.2.1", now); ok || report {
			t.Fatal("a flood is let through or reported more than once a minute")
		}
	}
	if ok, _, _ := s.allow("192.0.2.2", now); !ok {
		t.Fatal("another address is refused")
	}
	now = now.Add(time.Minute)
	if ok, _, _ := s.allow("192.0.2.1", now); !ok {
		t.Fatal("no refill after a minute")
	}
	reported := false
	for range 10 {
		if ok, report, n := s.allow("192.0.2.1", now); !ok && report && n >= 1 {
			reported = true
		}
	}
	if !reported {
		t.Fatal("the next minute's flood is not reported")
	}
	// Memory stays bounded.
	for i := range 100 {
		s.allow("198.51.100."+string(rune('a'+i%26))+string(rune('a'+i/26)), now)
	}
	if len(s.entries) > 4 {
		t.Fatalf("%d entries, want at most 4", len(s.entries))
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"not an address":       "not an address",
	} {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
