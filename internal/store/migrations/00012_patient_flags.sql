-- +goose Up
-- Records that need closer watching: VIPs and the practice's own employees.
-- Any access by staff raises an alert.
CREATE TABLE patient_flags (
    patient_id TEXT   NOT NULL REFERENCES patients (id),
    flag       TEXT   NOT NULL CHECK (flag IN ('vip', 'employee')),
    set_by     TEXT   NOT NULL,
    set_at     BIGINT NOT NULL,
    PRIMARY KEY (patient_id, flag)
);
