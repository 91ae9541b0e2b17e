-- +goose Up
-- What the audit log records, set only by the security officer; every
-- change is itself an event. Everything is recorded unless a row here says
-- otherwise.
CREATE TABLE audit_settings (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    changed_by TEXT   NOT NULL,
    changed_at BIGINT NOT NULL
);
