package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Child is a server subcommand running as a child process of the driver.
type Child struct {
	cmd     *exec.Cmd
	exited  chan error
	stopped bool
}

// StartChild removes endpointFile, starts exe with args, its output going
// to stderr, and waits (at most 2 minutes) for the child to write
// endpointFile (see Server.Serve), which it decodes into endpoint. If the
// child exits first, the wait times out or ctx ends, it returns an error,
// having stopped the child.
func StartChild(ctx context.Context, exe string, args []string, endpointFile string, endpoint any, stderr io.Writer) (*Child, error) {
	if err := os.Remove(endpointFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{cmd: cmd, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(endpointFile)
		if err == nil {
			if err := json.Unmarshal(b, endpoint); err != nil {
				c.Stop()
				return nil, err
			}
			return c, nil
		}
		select {
		case err := <-c.exited:
			c.stopped = true
			return nil, fmt.Errorf("the server exited before it was ready: %v", err)
		case <-deadline:
			c.Stop()
			return nil, errors.New("the server was not ready after 2 minutes")
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// Stop ends the child with SIGTERM (SIGKILL after 30 s) and returns how it
// exited; once stopped, it returns nil.
func (c *Child) Stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		return err
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
		return errors.New("the server did not stop within 30s of SIGTERM and was killed")
	}
}

// Signal sends sig to the child.
func (c *Child) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }

// CPUTime is the CPU time the child has used, -1 if unknown (see CPUTime).
func (c *Child) CPUTime() time.Duration { return CPUTime(c.cmd.Process.Pid) }

// PeakRSS is the child's peak resident memory in KiB, -1 if unknown (see
// PeakRSS).
func (c *Child) PeakRSS() int64 { return PeakRSS(c.cmd.Process.Pid) }
