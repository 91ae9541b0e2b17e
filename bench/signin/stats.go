package main

import (
	"os"
	"strconv"
	"strings"
	"time"

	"uroportal/bench/internal/harness"
)

// selfCPU is this process's CPU time, -1 if unknown.
func selfCPU() time.Duration { return harness.CPUTime(os.Getpid()) }

// ms formats a latency with one decimal.
func ms(d time.Duration) string { return harness.MS(d, 1) }

// cpus formats a CPU use in CPUs (1.00 = one core busy), n/a if unknown.
func cpus(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// cpuMS formats CPU milliseconds with one decimal, n/a if unknown.
func cpuMS(v float64) string { return harness.MSOrNA(v, 1) }

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
	m := &cpuMeter{srv: srv, at: time.Now(), server: srv.CPUTime(), driver: selfCPU(), others: machineBusy()}
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
	s, d, all := m.srv.CPUTime(), selfCPU(), machineBusy()
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
