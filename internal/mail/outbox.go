package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"sync"
	"time"

	"github.com/google/uuid"

	"uroportal/internal/clock"
	"uroportal/internal/keyring"
	"uroportal/internal/logs"
	"uroportal/internal/store"
)

// EncryptedTables lists this package's encrypted columns, for key rewrap.
var EncryptedTables = []keyring.Table{{Name: "mail_outbox", Columns: []string{"to_addr", "body"}}}

const table = "mail_outbox"

// Log attribute keys of this package, beside the shared ones in logs.
const (
	KeyMailID   = "mail_id"
	KeyAttempts = "attempts"
)

// Defaults of the Outbox's tuning fields.
const (
	DefaultInterval    = 15 * time.Second
	DefaultBatch       = 50
	DefaultMaxAttempts = 10
	DefaultBackoff     = time.Minute
	DefaultMaxBackoff  = time.Hour
)

// Outbox queues email in the database and sends it. One Outbox runs on every
// node; they share the queue and never send a message twice.
type Outbox struct {
	DB     *store.DB
	Keys   *keyring.Keyring
	Clock  clock.Clock
	Log    *slog.Logger
	Config Config
	// Node names this process in logs.
	Node string

	// Tuning; zero means the default.
	Interval    time.Duration // between Run's passes
	Batch       int           // most messages one pass sends
	MaxAttempts int           // attempts before a message is given up
	Backoff     time.Duration // wait after the first failure, doubling each time
	MaxBackoff  time.Duration // longest wait between attempts
	// Lease is how long a claim keeps other nodes off a message. It must
	// outlast one SMTP session; the default is the dial and session timeouts
	// plus a minute.
	Lease time.Duration

	wakeOnce sync.Once
	wake     chan struct{}
}

func (o *Outbox) now() time.Time {
	if o.Clock == nil {
		return time.Now().UTC()
	}
	return o.Clock.Now()
}

func (o *Outbox) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log.With(logs.KeyNode, o.Node)
}

func orDefault[T time.Duration | int](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

func (o *Outbox) lease() time.Duration {
	return orDefault(o.Lease, o.Config.dialTimeout()+o.Config.sessionTimeout()+time.Minute)
}

// backoff is the wait after the attempts-th failed attempt: Backoff doubling
// up to MaxBackoff.
func (o *Outbox) backoff(attempts int) time.Duration {
	d, max := orDefault(o.Backoff, DefaultBackoff), orDefault(o.MaxBackoff, DefaultMaxBackoff)
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Enqueue renders m for the address to and queues it. Pass the caller's
// *sql.Tx as q so the email commits, or rolls back, with the change that
// caused it. The error never contains the address.
func (o *Outbox) Enqueue(ctx context.Context, q store.Querier, to string, m Renderable) (string, error) {
	if m == nil {
		return "", errors.New("mail: enqueue: no message")
	}
	addr, err := parseRecipient(to)
	if err != nil {
		return "", err
	}
	subject, body, err := m.Render()
	if err != nil {
		return "", err
	}
	if hasCRLF(subject) {
		return "", fmt.Errorf("mail: %s subject contains a line break", m.Kind())
	}
	id := uuid.NewString()
	row := o.Keys.Row(ctx, table, id)
	sealedTo, sealedBody := row.Seal("to_addr", addr), row.Seal("body", body)
	if err := row.Err(); err != nil {
		return "", fmt.Errorf("mail: enqueue %s: %w", id, err)
	}
	now := o.now().UnixMilli()
	_, err = q.ExecContext(ctx, `INSERT INTO mail_outbox
		(id, to_addr, subject, body, kind, created_at, attempts, next_attempt_at, claimed_until, last_error)
		VALUES ($1, $2, $3, $4, $5, $6, 0, $6, 0, '')`,
		id, sealedTo, subject, sealedBody, string(m.Kind()), now)
	if err != nil {
		return "", fmt.Errorf("mail: enqueue %s: %w", id, err)
	}
	o.poke()
	return id, nil
}

// wakeGrace gives the enqueuing transaction time to commit before the
// woken sender looks for the message.
const wakeGrace = 300 * time.Millisecond

// poke wakes this node's Run loop so that urgent mail (a reset link) goes
// out in about a second rather than at the next interval. If the enqueuing
// transaction commits later than the grace, the next interval sends it.
func (o *Outbox) poke() {
	o.wakeOnce.Do(func() { o.wake = make(chan struct{}, 1) })
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// SendDue makes one pass over the queue: it claims each due message, sends
// it, and records the outcome. It returns how many were sent. Delivery
// failures are recorded on the message (and retried later), not returned;
// the error is for a configuration or database problem.
func (o *Outbox) SendDue(ctx context.Context) (int, error) {
	if err := o.Config.Validate(); err != nil {
		return 0, err
	}
	from, err := mail.ParseAddress(o.Config.From)
	if err != nil {
		return 0, err
	}
	now := o.now().UnixMilli()
	rows, err := o.DB.QueryContext(ctx, `SELECT id FROM mail_outbox
		WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 AND claimed_until < $1
		ORDER BY next_attempt_at, id LIMIT $2`, now, orDefault(o.Batch, DefaultBatch))
	if err != nil {
		return 0, fmt.Errorf("mail: due messages: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("mail: due messages: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("mail: due messages: %w", err)
	}
	sent := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		ok, err := o.sendOne(ctx, id, from)
		if err != nil {
			return sent, err
		}
		if ok {
			sent++
		}
	}
	return sent, nil
}

// queued is a claimed message.
type queued struct {
	id, kind, subject string
	to, body          []byte
	attempts          int
	createdAt         int64
	lease             int64
}

// sendOne claims, sends and settles one message. It reports whether this
// call delivered it; the error is for database failures only.
func (o *Outbox) sendOne(ctx context.Context, id string, from *mail.Address) (bool, error) {
	now := o.now()
	m := queued{id: id, lease: now.Add(o.lease()).UnixMilli()}
	// The claim: only one node's UPDATE can find claimed_until in the past.
	err := o.DB.QueryRowContext(ctx, `UPDATE mail_outbox SET claimed_until = $1, attempts = attempts + 1
		WHERE id = $2 AND sent_at IS NULL AND failed_at IS NULL AND claimed_until < $3 AND next_attempt_at <= $3
		RETURNING to_addr, subject, body, kind, attempts, created_at`,
		m.lease, id, now.UnixMilli()).Scan(&m.to, &m.subject, &m.body, &m.kind, &m.attempts, &m.createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // another node has it, or it is no longer due
	}
	if err != nil {
		return false, fmt.Errorf("mail: claim %s: %w", id, err)
	}
	log := o.log().With(KeyMailID, id, logs.KeyKind, m.kind, KeyAttempts, m.attempts)

	row := o.Keys.Row(ctx, table, id)
	to, body := row.Open("to_addr", m.to), row.Open("body", m.body)
	if err := row.Err(); err != nil {
		log.Error("mail: cannot decrypt a queued message", logs.KeyError, err)
		return false, o.settleFailure(ctx, log, m, &deliveryError{stage: "decrypt", msg: "the queued message could not be decrypted"})
	}
	msg, err := buildMessage(id, time.UnixMilli(m.createdAt).UTC(), from, to, m.subject, body)
	if err != nil {
		return false, o.settleFailure(ctx, log, m, &deliveryError{stage: "compose", msg: "the message could not be composed", permanent: true})
	}
	if err := deliver(ctx, o.Config, from.Address, to, msg); err != nil {
		return false, o.settleFailure(ctx, log, m, classify("send", to, err))
	}
	// Sent: record it whoever holds the claim now, so no one sends it again.
	// The body may hold a one-time link; it is not kept.
	sctx, cancel := settleContext(ctx)
	defer cancel()
	_, err = o.DB.ExecContext(sctx, `UPDATE mail_outbox SET sent_at = $1, claimed_until = 0, last_error = '', body = NULL
		WHERE id = $2 AND sent_at IS NULL`, o.now().UnixMilli(), id)
	if err != nil {
		// The server has the message; if this write is lost the claim
		// expires and it may be sent again. Say so.
		log.Error("mail: sent but not recorded; it may be sent again", logs.KeyError, err)
		return true, fmt.Errorf("mail: record %s sent: %w", id, err)
	}
	log.Info("mail: sent")
	return true, nil
}

// settleFailure schedules the next attempt, or gives the message up after
// MaxAttempts or a permanent refusal. Only the claim holder may do so.
func (o *Outbox) settleFailure(ctx context.Context, log *slog.Logger, m queued, de *deliveryError) error {
	ctx, cancel := settleContext(ctx)
	defer cancel()
	now := o.now()
	reason := de.Error()
	if de.permanent || m.attempts >= orDefault(o.MaxAttempts, DefaultMaxAttempts) {
		_, err := o.DB.ExecContext(ctx, `UPDATE mail_outbox SET failed_at = $1, claimed_until = 0, last_error = $2, body = NULL
			WHERE id = $3 AND claimed_until = $4 AND sent_at IS NULL`, now.UnixMilli(), reason, m.id, m.lease)
		if err != nil {
			return fmt.Errorf("mail: record %s failed: %w", m.id, err)
		}
		log.Error("mail: gave up on a message", logs.KeyError, reason)
		return nil
	}
	next := now.Add(o.backoff(m.attempts))
	_, err := o.DB.ExecContext(ctx, `UPDATE mail_outbox SET next_attempt_at = $1, claimed_until = 0, last_error = $2
		WHERE id = $3 AND claimed_until = $4 AND sent_at IS NULL`, next.UnixMilli(), reason, m.id, m.lease)
	if err != nil {
		return fmt.Errorf("mail: record %s retry: %w", m.id, err)
	}
	log.Warn("mail: not sent; will retry", logs.KeyError, reason, "retry_at", next)
	return nil
}

// settleContext outlives the cancellation of ctx for a moment, so that a
// shutdown in the middle of a send still records what happened.
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// Run sends due mail every Interval until ctx is done. It logs failures and
// keeps going; it returns an error only for an invalid Config.
func (o *Outbox) Run(ctx context.Context) error {
	if err := o.Config.Validate(); err != nil {
		return err
	}
	t := time.NewTicker(orDefault(o.Interval, DefaultInterval))
	defer t.Stop()
	o.wakeOnce.Do(func() { o.wake = make(chan struct{}, 1) })
	for {
		if n, err := o.SendDue(ctx); err != nil && ctx.Err() == nil {
			o.log().Error("mail: send pass failed", logs.KeyError, err)
		} else if n > 0 {
			o.log().Debug("mail: send pass", "sent", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-o.wake:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wakeGrace):
			}
		}
	}
}

// Purge deletes messages sent or given up before cutoff and reports how many.
// Keep as long as the practice's retention policy asks; the rows hold only
// the sealed address, the kind and the outcome.
func (o *Outbox) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := o.DB.ExecContext(ctx, `DELETE FROM mail_outbox WHERE sent_at < $1 OR failed_at < $1`, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("mail: purge: %w", err)
	}
	return res.RowsAffected()
}

// Status is one queued message's state, without its address or body.
type Status struct {
	ID            string
	Kind          Kind
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	SentAt        time.Time // zero until sent
	FailedAt      time.Time // zero unless given up
	LastError     string    // safe: stage and reply code, no address
}

// Status reports the state of message id, for tests and the admin pages.
func (o *Outbox) Status(ctx context.Context, id string) (Status, error) {
	s := Status{ID: id}
	var kind string
	var created, next int64
	var sent, failed sql.NullInt64
	err := o.DB.QueryRowContext(ctx, `SELECT kind, attempts, created_at, next_attempt_at, sent_at, failed_at, last_error
		FROM mail_outbox WHERE id = $1`, id).Scan(&kind, &s.Attempts, &created, &next, &sent, &failed, &s.LastError)
	if err != nil {
		return Status{}, fmt.Errorf("mail: status of %s: %w", id, err)
	}
	s.Kind = Kind(kind)
	s.CreatedAt, s.NextAttemptAt = time.UnixMilli(created).UTC(), time.UnixMilli(next).UTC()
	if sent.Valid {
		s.SentAt = time.UnixMilli(sent.Int64).UTC()
	}
	if failed.Valid {
		s.FailedAt = time.UnixMilli(failed.Int64).UTC()
	}
	return s, nil
}
