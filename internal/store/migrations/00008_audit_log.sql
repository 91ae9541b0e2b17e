-- +goose Up
-- The tamper-evident log: each event gets its place (seq, 1, 2, 3, …) and a
-- MAC under a key kept outside the database; events are the leaves of an
-- RFC 6962 Merkle tree whose signed checkpoints (tree size, root) are kept
-- here with the frontier needed to extend them.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN mac BYTEA;
ALTER TABLE audit_events ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN acting_for TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);

CREATE TABLE audit_checkpoints (
    tree_size BIGINT NOT NULL PRIMARY KEY,
    root      BYTEA  NOT NULL,
    frontier  BYTEA  NOT NULL,
    at        BIGINT NOT NULL,
    key_id    TEXT   NOT NULL,
    signature BYTEA  NOT NULL
);
