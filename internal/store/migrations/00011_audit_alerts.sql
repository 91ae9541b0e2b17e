-- +goose Up
-- Alerts raised by the rules over the audit log, for the security officer.
-- dedupe keeps one alert per rule and subject and window.
CREATE TABLE audit_alerts (
    id              TEXT   NOT NULL PRIMARY KEY,
    dedupe          TEXT   NOT NULL UNIQUE,
    at              BIGINT NOT NULL,
    rule            TEXT   NOT NULL,
    actor_id        TEXT   NOT NULL,
    patient_id      TEXT   NOT NULL,
    source_ip       TEXT   NOT NULL,
    detail          TEXT   NOT NULL,
    seq             BIGINT NOT NULL,
    acknowledged_by TEXT   NOT NULL DEFAULT '',
    acknowledged_at BIGINT
);
CREATE INDEX audit_alerts_at ON audit_alerts (at);
