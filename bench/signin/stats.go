package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(k, 1), len(sorted))-1]
}

// peakRSS is the VmHWM of a process in KiB (Linux), -1 if unknown.
func peakRSS(pid int) int64 {
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

// cpuTime is the user+system CPU time a process has used (Linux), -1 if
// unknown. It assumes the usual 100 clock ticks per second.
func cpuTime(pid int) time.Duration {
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

// selfCPU is this process's CPU time, -1 if unknown.
func selfCPU() time.Duration { return cpuTime(os.Getpid()) }

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func mib(kib int64) string {
	if kib < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + " MiB"
}

// cpus formats a CPU use in CPUs (1.00 = one core busy), n/a if unknown.
func cpus(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func cpuMS(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
}

// machineBusy is the CPU time all processes have used since boot (Linux,
// from the first line of /proc/stat: everything but idle and iowait), -1 if
// unknown. Less the server's and the driver's, it shows what other
// processes took during a window.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return -1
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return -1
		}
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		busy += n
	}
	return time.Duration(busy) * (time.Second / 100)
}

// cpuMeter measures the CPU use of the server, the driver and everything
// else over a window.
type cpuMeter struct {
	srv                    *server
	at                     time.Time
	server, driver, others time.Duration
	ok                     bool
}

func startCPU(srv *server) *cpuMeter {
	m := &cpuMeter{srv: srv, at: time.Now(), server: srv.cpu(), driver: selfCPU(), others: machineBusy()}
	m.ok = m.server >= 0 && m.driver >= 0 && m.others >= 0
	return m
}

// cpuUse is CPU use over a window, in CPUs (1.00 = one core busy
// throughout); -1 where unknown.
type cpuUse struct {
	Server, Driver, Others float64
	ServerTime             time.Duration // the server's CPU time over the window
}

func (m *cpuMeter) stop() cpuUse {
	u := cpuUse{-1, -1, -1, -1}
	if m == nil || !m.ok {
		return u
	}
	s, d, all := m.srv.cpu(), selfCPU(), machineBusy()
	secs := time.Since(m.at).Seconds()
	if s < 0 || d < 0 || all < 0 || secs <= 0 {
		return u
	}
	ds, dd := s-m.server, d-m.driver
	u.Server, u.Driver, u.ServerTime = ds.Seconds()/secs, dd.Seconds()/secs, ds
	u.Others = max((all-m.others-ds-dd).Seconds()/secs, 0)
	return u
}

// loadavg is the first three fields of /proc/loadavg, "" if unknown.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
