-- +goose Up
-- Audit reports filter by person and by kind of event over a time range.
CREATE INDEX audit_events_actor ON audit_events (actor_id, at);
CREATE INDEX audit_events_type ON audit_events (event_type, at);
