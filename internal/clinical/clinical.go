// Package clinical holds patients and their lab results. Every PHI column is
// sealed by the keyring before it reaches the database; reads go through a
// Service method that asks access for a decision and records an audit event.
package clinical

import (
	"log/slog"
	"strings"
	"time"

	"uroportal/internal/keyring"
)

// Patient is a patient's demographic record.
type Patient struct {
	ID         string
	MRN        string
	FamilyName string
	GivenName  string
	BirthDate  string // YYYY-MM-DD
	Sex        string // female, male, other, unknown
	Address    string
	Phone      string
	Email      string
}

// LogValue keeps a patient to its ID in logs.
func (p Patient) LogValue() slog.Value { return slog.StringValue("patient " + p.ID) }

// Result statuses.
const (
	StatusPreliminary = "preliminary"
	StatusFinal       = "final"
	StatusCorrected   = "corrected"
)

// Abnormal flags.
const (
	FlagNormal = ""
	FlagHigh   = "H"
	FlagLow    = "L"
	FlagAbnorm = "A"
)

// LabResult is one lab observation.
type LabResult struct {
	ID                string
	PatientID         string
	Code              string // LOINC
	Name              string
	Value             string
	Unit              string
	ReferenceRange    string
	Flag              string
	Status            string
	CollectedAt       time.Time
	ResultedAt        time.Time
	OrderingClinician string
}

// LogValue keeps a result to its IDs in logs.
func (r LabResult) LogValue() slog.Value { return slog.StringValue("lab result " + r.ID) }

// EncryptedTables lists this package's encrypted columns, for key rewrap and
// retire.
var EncryptedTables = []keyring.Table{
	{Name: "patients", Columns: []string{"mrn", "family_name", "given_name", "birth_date", "sex", "address", "phone", "email"}},
	{Name: "lab_results", Columns: []string{"code", "name", "value", "unit", "reference_range", "flag", "status", "collected_at", "resulted_at", "ordering_clinician"}},
}

// Blind-index domains.
const (
	indexMRN     = "patients.mrn"
	indexLabCode = "lab_results.code"
)

// NormalizeMRN is the form an MRN is indexed and compared in.
func NormalizeMRN(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// NormalizeCode is the form a lab code is indexed in.
func NormalizeCode(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
