package harness

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(k, 1), len(sorted))-1]
}

// PeakRSS is the VmHWM of a process in KiB (Linux), -1 if unknown.
func PeakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// CPUTime is the user+system CPU time a process has used (Linux), -1 if
// unknown. It assumes the usual 100 clock ticks per second.
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * (time.Second / 100)
}

// MS formats d in milliseconds with the given number of decimals, as
// "1.25 ms".
func MS(d time.Duration, decimals int) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', decimals, 64) + " ms"
}

// MSOrNA formats a figure already in milliseconds with the given number of
// decimals, as "1.25 ms"; "n/a" if it is negative (unknown).
func MSOrNA(ms float64, decimals int) string {
	if ms < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(ms, 'f', decimals, 64) + " ms"
}

// MiB formats an amount in KiB as MiB with one decimal, "n/a" if it is
// negative (unknown).
func MiB(kib int64) string {
	if kib < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + " MiB"
}
