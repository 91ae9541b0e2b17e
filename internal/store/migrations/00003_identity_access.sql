-- +goose Up
-- One account per person; IDs are random and never reused. The sign-in email
-- is encrypted, with a blind index for lookup.
CREATE TABLE users (
    id            TEXT   NOT NULL PRIMARY KEY,
    email_index   BYTEA  NOT NULL UNIQUE,
    email         BYTEA  NOT NULL,
    name          BYTEA  NOT NULL,
    role          TEXT   NOT NULL CHECK (role IN ('patient', 'proxy', 'clinician', 'nurse', 'frontdesk', 'billing', 'admin', 'security', 'auditor')),
    patient_id    TEXT   REFERENCES patients (id),
    password_hash TEXT   NOT NULL,
    totp_secret   BYTEA,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL
);

-- Relations that the access policy reads: who is on a patient's care team,
-- and who may act for a patient as a proxy, with a scope and an expiry.
CREATE TABLE care_team (
    patient_id TEXT   NOT NULL REFERENCES patients (id),
    user_id    TEXT   NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (patient_id, user_id)
);
CREATE INDEX care_team_user ON care_team (user_id);

CREATE TABLE proxy_relations (
    proxy_user_id TEXT   NOT NULL REFERENCES users (id),
    patient_id    TEXT   NOT NULL REFERENCES patients (id),
    scope         TEXT   NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (proxy_user_id, patient_id)
);
