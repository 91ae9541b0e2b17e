-- +goose Up
-- Every PHI column is AES-256-GCM ciphertext from internal/keyring, bound to
-- its table, column and row. *_index columns are keyed blind indexes.
CREATE TABLE patients (
    id          TEXT   NOT NULL PRIMARY KEY,
    mrn_index   BYTEA  NOT NULL UNIQUE,
    mrn         BYTEA  NOT NULL,
    family_name BYTEA  NOT NULL,
    given_name  BYTEA  NOT NULL,
    birth_date  BYTEA  NOT NULL,
    sex         BYTEA  NOT NULL,
    address     BYTEA  NOT NULL,
    phone       BYTEA  NOT NULL,
    email       BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE lab_results (
    id                 TEXT   NOT NULL PRIMARY KEY,
    patient_id         TEXT   NOT NULL REFERENCES patients (id),
    code_index         BYTEA  NOT NULL,
    code               BYTEA  NOT NULL,
    name               BYTEA  NOT NULL,
    value              BYTEA  NOT NULL,
    unit               BYTEA  NOT NULL,
    reference_range    BYTEA  NOT NULL,
    flag               BYTEA  NOT NULL,
    status             BYTEA  NOT NULL,
    collected_at       BYTEA  NOT NULL,
    resulted_at        BYTEA  NOT NULL,
    ordering_clinician BYTEA  NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX lab_results_patient ON lab_results (patient_id, code_index);
