-- +goose Up
-- Sign-in state. Everything here is shared by every node through the
-- database: counters, sessions and throttles are never in process memory.

-- Per-account lockout and MFA state. Booleans are INTEGER 0/1.
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN admin_locked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_pending BYTEA;
ALTER TABLE users ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;

-- Server-side sessions. The token the client holds is stored only as its
-- SHA-256 hash; id is a separate random handle for listing and ending
-- sessions. state: 'mfa' (password accepted, second factor pending),
-- 'enroll' (must enroll a factor before anything else), 'active'.
CREATE TABLE sessions (
    id               TEXT    NOT NULL PRIMARY KEY,
    token_hash       BYTEA   NOT NULL UNIQUE,
    user_id          TEXT    NOT NULL REFERENCES users (id),
    kind             TEXT    NOT NULL CHECK (kind IN ('browser', 'api')),
    state            TEXT    NOT NULL CHECK (state IN ('mfa', 'enroll', 'active')),
    created_at       BIGINT  NOT NULL,
    last_seen_at     BIGINT  NOT NULL,
    authenticated_at BIGINT  NOT NULL,
    idle_timeout_ms  BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    ended_at         BIGINT,
    end_reason       TEXT,
    user_agent       BYTEA   NOT NULL,
    source_ip        BYTEA   NOT NULL,
    mfa_attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions (user_id, ended_at);

-- Token buckets for sign-in throttling, keyed by an HMAC of "ip:…" or
-- "ip+account:…" so neither addresses nor emails are stored.
CREATE TABLE throttle (
    key_hash   BYTEA            NOT NULL PRIMARY KEY,
    tokens     DOUBLE PRECISION NOT NULL,
    updated_at BIGINT           NOT NULL
);

-- Single-use recovery codes, stored as keyed hashes.
CREATE TABLE recovery_codes (
    user_id    TEXT   NOT NULL REFERENCES users (id),
    code_hash  BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Single-use password-reset links (hash of the token), 30 minutes.
CREATE TABLE password_resets (
    token_hash BYTEA  NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- Remembered devices (a random cookie, stored hashed), for new-device
-- notices.
CREATE TABLE devices (
    id_hash      BYTEA  NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX devices_user ON devices (user_id);

-- Activation codes issued by the front desk for a patient record (or a
-- proxy invitation): single use, expiring, burned after three wrong tries.
CREATE TABLE activation_codes (
    id         TEXT    NOT NULL PRIMARY KEY,
    code_hash  BYTEA   NOT NULL UNIQUE,
    patient_id TEXT    NOT NULL REFERENCES patients (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('patient', 'proxy')),
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    used_at    BIGINT,
    burned_at  BIGINT
);
