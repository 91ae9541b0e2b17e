-- +goose Up
-- WebAuthn passkeys (internal/identity/passkey). Booleans are INTEGER 0/1.
--
-- credential_id_index is a keyed blind index (HMAC-SHA-256) of the raw
-- credential ID, for the unique constraint and the lookup at sign-in; the
-- raw ID itself is ciphertext, so a copy of the database or a backup holds
-- no authenticator-issued identifier. public_key is not secret, but it is
-- sealed too: the AEAD authenticates it, and its plaintext names the owning
-- user, so someone who can write to the database but lacks the key cannot
-- plant a passkey or move one to another account. name is the user's own
-- label ("Work laptop"), which may carry a person's name.
CREATE TABLE passkeys (
    id                  TEXT    NOT NULL PRIMARY KEY,
    user_id             TEXT    NOT NULL REFERENCES users (id),
    credential_id_index BYTEA   NOT NULL UNIQUE,
    credential_id       BYTEA   NOT NULL,
    public_key          BYTEA   NOT NULL,
    attestation_type    TEXT    NOT NULL,
    aaguid              BYTEA   NOT NULL,
    sign_count          BIGINT  NOT NULL DEFAULT 0,
    backup_eligible     INTEGER NOT NULL DEFAULT 0,
    backup_state        INTEGER NOT NULL DEFAULT 0,
    user_verified       INTEGER NOT NULL DEFAULT 0,
    transports          TEXT    NOT NULL DEFAULT '',
    name                BYTEA   NOT NULL,
    created_at          BIGINT  NOT NULL,
    last_used_at        BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- Registration and sign-in ceremonies in flight: single use (deleted when
-- finished, whatever the outcome) and expiring. data is the go-webauthn
-- SessionData as JSON, sealed by the keyring for this row. user_id is set
-- for registration, which only that user may finish.
CREATE TABLE webauthn_ceremonies (
    id         TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   REFERENCES users (id),
    kind       TEXT   NOT NULL CHECK (kind IN ('register', 'login')),
    data       BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);
