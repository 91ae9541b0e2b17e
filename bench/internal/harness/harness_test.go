package harness

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, x := range n {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, c := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny p is the min", ms(hundred...), 0.001, 1 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Percentile(c.sorted, c.p); got != c.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", c.sorted, c.p, got, c.want)
			}
		})
	}
}

func TestCountRows(t *testing.T) {
	page := `<table><thead><tr><th>Date</th></tr></thead><tbody>
<tr class="flagged"><td>a</td></tr>
<tr><td>b</td></tr>
</tbody></table>`
	if n := CountRows([]byte(page)); n != 2 {
		t.Errorf("CountRows = %d, want 2 (body rows only)", n)
	}
	if n := CountRows([]byte("<p>There are no lab results yet.</p>")); n != -1 {
		t.Errorf("CountRows without a table = %d, want -1", n)
	}
}
