-- +goose Up
-- Where each outgoing audit stream (syslog, JSON lines) has got to, so that
-- nothing is lost across restarts; and which node ships it now (a lease).
CREATE TABLE audit_ship_cursor (
    name        TEXT   NOT NULL PRIMARY KEY,
    last_seq    BIGINT NOT NULL,
    holder      TEXT   NOT NULL,
    lease_until BIGINT NOT NULL
);
