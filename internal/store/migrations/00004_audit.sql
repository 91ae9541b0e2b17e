-- +goose Up
-- Audit events: who did what to which patient's data, when, from where, and
-- the outcome. No PHI values. The application only ever inserts and selects.
CREATE TABLE audit_events (
    id           TEXT   NOT NULL PRIMARY KEY,
    at           BIGINT NOT NULL,
    event_type   TEXT   NOT NULL,
    outcome      TEXT   NOT NULL,
    actor_id     TEXT   NOT NULL,
    actor_role   TEXT   NOT NULL,
    patient_id   TEXT   NOT NULL,
    category     TEXT   NOT NULL,
    action       TEXT   NOT NULL,
    object_ids   TEXT   NOT NULL,
    request_id   TEXT   NOT NULL,
    source_ip    TEXT   NOT NULL,
    user_agent   TEXT   NOT NULL,
    reason       TEXT   NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_patient ON audit_events (patient_id, at);
