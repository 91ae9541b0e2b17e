-- +goose Up
-- Outgoing email, queued in the same transaction as the change that caused it
-- and sent by whichever node claims it first (claimed_until is a lease, so two
-- nodes never send one message). Bodies come only from fixed templates that
-- carry no PHI, but the recipient address identifies a patient and a body may
-- hold a one-time link, so both are sealed by the keyring; the body is cleared
-- once the message is sent or given up. Times are Unix milliseconds; 0 in
-- claimed_until means unclaimed.
CREATE TABLE mail_outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    to_addr         BYTEA   NOT NULL,
    subject         TEXT    NOT NULL,
    body            BYTEA,
    kind            TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    claimed_until   BIGINT  NOT NULL DEFAULT 0,
    sent_at         BIGINT,
    last_error      TEXT    NOT NULL DEFAULT '',
    failed_at       BIGINT
);
-- The sender's "due" query: unsent, not given up, oldest first.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
