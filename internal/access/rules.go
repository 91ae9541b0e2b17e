package access

// The rules are data: one row per (role, category) with the actions allowed
// and the relation the actor must have to the patient. Anything not listed
// is denied. Change access by changing this table; a test walks it.
var rules = []Rule{
	// Patients see their own record.
	{Role: Patient, Category: Demographics, Actions: set(View), Relation: Self},
	{Role: Patient, Category: Results, Actions: set(View), Relation: Self},
	{Role: Patient, Category: AccessHistory, Actions: set(View), Relation: Self},

	// Proxies act for a patient within the scope the patient granted.
	{Role: Proxy, Category: Results, Actions: set(View), Relation: ProxyScope},
	{Role: Proxy, Category: Demographics, Actions: set(View), Relation: ProxyScope},
	{Role: Proxy, Category: AccessHistory, Actions: set(View), Relation: ProxyScope},

	// Clinicians and nurses: clinical data of patients on their care team.
	{Role: Clinician, Category: Demographics, Actions: set(View), Relation: CareTeam},
	{Role: Clinician, Category: Results, Actions: set(View, Create, Update), Relation: CareTeam},
	{Role: Nurse, Category: Demographics, Actions: set(View), Relation: CareTeam},
	{Role: Nurse, Category: Results, Actions: set(View, Create), Relation: CareTeam},

	// Front desk registers patients and keeps their contact details, for
	// the whole practice; no clinical data.
	{Role: FrontDesk, Category: Demographics, Actions: set(View, Create, Update), Relation: AnyPatient},

	// Billing sees who the patient is, not what their results say.
	{Role: Billing, Category: Demographics, Actions: set(View), Relation: AnyPatient},

	// The security officer and the auditor read and export the audit log;
	// no clinical access (break-glass arrives with its own rules).
	{Role: Security, Category: AuditLog, Actions: set(View, Export), Relation: Practice},
	{Role: Auditor, Category: AuditLog, Actions: set(View, Export), Relation: Practice},
}
