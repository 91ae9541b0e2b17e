-- +goose Up
-- Data-encryption keys, stored only wrapped by the key-encryption key (KEK).
-- purpose 'field' keys encrypt PHI columns and rotate; the 'index' key feeds
-- the blind index (HMAC-SHA-256) used for exact-match lookups.
CREATE TABLE data_keys (
    version    INTEGER NOT NULL PRIMARY KEY,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('field', 'index')),
    state      TEXT    NOT NULL CHECK (state IN ('primary', 'active', 'retired')),
    wrapped    BYTEA,
    kek_id     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    retired_at BIGINT
);
CREATE UNIQUE INDEX data_keys_one_primary ON data_keys (purpose) WHERE state = 'primary';

-- Progress of a running or interrupted rewrap, so it resumes after a crash.
CREATE TABLE key_rewrap_progress (
    target_version INTEGER NOT NULL,
    table_name     TEXT    NOT NULL,
    last_id        TEXT    NOT NULL,
    updated_at     BIGINT  NOT NULL,
    PRIMARY KEY (target_version, table_name)
);
