package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"uroportal/internal/access"
	"uroportal/internal/audit"
	"uroportal/internal/config"
	"uroportal/internal/demo"
	"uroportal/internal/keyring"
)

// Migrate applies pending migrations and reports the schema version.
func Migrate(ctx context.Context, cfg config.Config, out io.Writer) error {
	a, err := Open(ctx, cfg, discard(), Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	cur, _, err := a.DB.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "database is at schema version %d\n", cur)
	return nil
}

// Demo fills an empty database with demo data.
func Demo(ctx context.Context, cfg config.Config, out, errOut io.Writer) error {
	a, err := Open(ctx, cfg, discard(), Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	_, err = a.LoadDemo(ctx, errOut)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "demo data ready: %d patients; logins in %s\n", cfg.DemoPatients, cfg.DataDir+"/"+demo.LoginsFile)
	return nil
}

// LoadDemo loads demo data, with a progress bar when errOut is a terminal.
func (a *App) LoadDemo(ctx context.Context, errOut io.Writer) ([]demo.Login, error) {
	bar := NewProgress(errOut, int64(a.Cfg.DemoPatients), "demo patients")
	logins, err := demo.Load(ctx, demo.Deps{DB: a.DB, Clinical: a.Clinical, Users: a.Users, Clock: a.Clock}, demo.Options{
		Patients: a.Cfg.DemoPatients, Seed: a.Cfg.DemoSeed, DataDir: a.Cfg.DataDir,
		Progress: func(done, _ int) { bar(int64(done)) },
	})
	return logins, err
}

// NewProgress returns a progress callback for a long operator command: a
// bar when w is a terminal, nothing otherwise.
func NewProgress(w io.Writer, total int64, what string) func(int64) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func(int64) {}
	}
	b := progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	return func(n int64) { b.Set64(n) }
}

// Keys runs `keys status|rotate|rewrap|retire VERSION`.
func Keys(ctx context.Context, cfg config.Config, action string, args []string, out, errOut io.Writer) error {
	a, err := Open(ctx, cfg, discard(), Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	tables := EncryptedTables()
	switch action {
	case "status":
		ks, err := a.Keys.Status(ctx, tables)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tPURPOSE\tSTATE\tCREATED\tFIELDS\tKEK")
		for _, k := range ks {
			fields := "-"
			if k.Purpose == "field" && k.State != "retired" {
				fields = strconv.FormatInt(k.Fields, 10)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", k.Version, k.Purpose, k.State,
				time.UnixMilli(k.CreatedAt).UTC().Format(time.RFC3339), fields, k.KEKID)
		}
		return tw.Flush()
	case "rotate":
		v, err := a.Keys.Rotate(ctx)
		if err != nil {
			return err
		}
		if err := a.auditKeys(ctx, "rotate", fmt.Sprintf("new primary data key version %d", v)); err != nil {
			return err
		}
		fmt.Fprintf(out, "new primary data key: version %d; run `uroportal keys rewrap` to move existing fields to it\n", v)
		return nil
	case "rewrap":
		var total int64
		var bar func(int64)
		n, err := a.Keys.Rewrap(ctx, tables, keyring.RewrapOptions{Progress: func(done, t int64) {
			if bar == nil || t != total {
				total, bar = t, NewProgress(errOut, t, "rewrap rows")
			}
			bar(done)
		}})
		if err != nil {
			return fmt.Errorf("rewrap stopped after %d fields: %w (run it again to resume)", n, err)
		}
		if err := a.auditKeys(ctx, "rewrap", fmt.Sprintf("%d fields rewrapped under version %d", n, a.Keys.Primary())); err != nil {
			return err
		}
		fmt.Fprintf(out, "rewrapped %d fields under key version %d\n", n, a.Keys.Primary())
		return nil
	case "retire":
		v, err := strconv.ParseUint(args[0], 10, 32)
		if err != nil {
			return fmt.Errorf("keys retire takes a key version number, as `uroportal keys status` lists")
		}
		if err := a.Keys.Retire(ctx, tables, uint32(v)); err != nil {
			return err
		}
		if err := a.auditKeys(ctx, "retire", fmt.Sprintf("data key version %d retired and destroyed", v)); err != nil {
			return err
		}
		fmt.Fprintf(out, "key version %d retired and destroyed\n", v)
		return nil
	}
	return fmt.Errorf("unknown keys action %q", action)
}

// AuditVerify checks the whole audit log and its signed checkpoints.
func AuditVerify(ctx context.Context, cfg config.Config, out io.Writer) error {
	a, err := Open(ctx, cfg, discard(), Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	start := time.Now()
	rep, err := audit.Verify(ctx, a.DB, a.Audit.Signer)
	if err != nil {
		return err
	}
	if rep.Problem != nil {
		fmt.Fprintf(out, "checked %d events and %d checkpoints\n", rep.Events, rep.Checkpoints)
		return rep.Problem
	}
	fmt.Fprintf(out, "audit log intact: %d events, %d signed checkpoints, verified in %s\n", rep.Events, rep.Checkpoints, time.Since(start).Round(time.Millisecond))
	return nil
}

// AuditArchive writes events older than before to an archive file, checks
// it, and with purge removes them from the database (recorded in the log).
func AuditArchive(ctx context.Context, cfg config.Config, before, out string, purge bool, w io.Writer) error {
	cutoff, err := time.Parse("2006-01-02", before)
	if err != nil {
		return fmt.Errorf("--before %q: use a date like 2019-12-31", before)
	}
	a, err := Open(ctx, cfg, discard(), Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.Audit.Archive(ctx, cutoff, 0, out)
	if err != nil {
		return err
	}
	if res.Events == 0 {
		fmt.Fprintln(w, "no events old enough to archive")
		return nil
	}
	fmt.Fprintf(w, "archived events 1 to %d to %s (sha256 %s); the archive verifies on its own\n", res.Events, out, res.SHA256)
	if !purge {
		return nil
	}
	n, err := a.Audit.Purge(ctx, access.Actor{UserID: "system:cli", Role: access.Admin}, out, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "removed %d archived events from the database; the log still verifies from the archive's checkpoint\n", n)
	return nil
}

// auditKeys records a key operation, a configuration change.
func (a *App) auditKeys(ctx context.Context, op, detail string) error {
	return a.Audit.Record(ctx, nil, audit.Event{Type: "config.keys." + op, Outcome: audit.Success, Actor: access.Actor{UserID: "system:cli", Role: access.Admin},
		Category: "security", Action: "configuration change", Reason: detail})
}
