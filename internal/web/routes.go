package web

// routes registers every route of the portal, in one place. Handlers return
// errors (HandlerFunc) and are wrapped with s.handle. Add new routes here,
// e.g.:
//
//	s.mux.Handle("GET /patients/{patientID}/labs", s.handle(s.labs))
func (s *Server) routes() {
	s.mux.Handle("GET /{$}", s.handle(s.home))
	s.mux.Handle("GET /static/{file}", s.handle(s.static.serve))

	// Signing in and out.
	s.mux.Handle("GET /signin", s.handle(s.signinForm))
	s.mux.Handle("POST /signin", s.handle(s.signin))
	s.mux.Handle("GET /signin/verify", s.handle(s.verifyForm))
	s.mux.Handle("POST /signin/verify", s.handle(s.verify))
	s.mux.Handle("POST /signout", s.handle(s.signout))
	s.mux.Handle("GET /session/status", s.handle(s.sessionStatus))
	s.mux.Handle("POST /session/keepalive", s.handle(s.keepalive))
	s.mux.Handle("GET /password/forgot", s.handle(s.forgotForm))
	s.mux.Handle("POST /password/forgot", s.handle(s.forgot))
	s.mux.Handle("GET /password/reset/{token}", s.handle(s.resetForm))
	s.mux.Handle("POST /password/reset/{token}", s.handle(s.reset))

	// The signed-in user's account and security.
	s.mux.Handle("GET /account", s.handle(s.account))
	s.mux.Handle("GET /account/mfa", s.handle(s.mfaSetup))
	s.mux.Handle("POST /account/mfa", s.handle(s.mfaConfirm))
	s.mux.Handle("POST /account/recovery-codes", s.handle(s.newCodes))
	s.mux.Handle("GET /account/password", s.handle(s.passwordForm))
	s.mux.Handle("POST /account/password", s.handle(s.passwordChange))
	s.mux.Handle("GET /account/email", s.handle(s.emailForm))
	s.mux.Handle("POST /account/email", s.handle(s.emailChange))
	s.mux.Handle("GET /account/confirm", s.handle(s.confirmForm))
	s.mux.Handle("POST /account/confirm", s.handle(s.confirm))
	s.mux.Handle("POST /account/sessions/{id}/end", s.handle(s.endSession))
	s.mux.Handle("GET /account/passkeys", s.handle(s.passkeysPage))
	s.mux.Handle("POST /account/passkeys/{id}/remove", s.handle(s.removePasskey))
	s.mux.Handle("POST /api/v1/account/passkeys/begin", s.handle(s.apiPasskeyBegin))
	s.mux.Handle("POST /api/v1/account/passkeys/finish", s.handle(s.apiPasskeyFinish))
	s.mux.Handle("POST /api/v1/auth/passkey/begin", s.handle(s.apiPasskeySignInBegin))
	s.mux.Handle("POST /api/v1/auth/passkey/finish", s.handle(s.apiPasskeySignInFinish))

	// Joining: the front desk issues a code, the patient activates.
	s.mux.Handle("GET /staff/activation", s.handle(s.issueForm))
	s.mux.Handle("POST /staff/activation", s.handle(s.issue))
	s.mux.Handle("GET /activate", s.handle(s.activateForm))
	s.mux.Handle("POST /activate", s.handle(s.activate))

	// The security officer's and auditor's audit reports.
	s.mux.Handle("GET /security/audit", s.handle(s.auditReport))
	s.mux.Handle("GET /security/audit/export/{format}", s.handle(s.auditExport))
	s.mux.Handle("GET /security/alerts", s.handle(s.alerts))
	s.mux.Handle("POST /security/flags", s.handle(s.flag))
	s.mux.Handle("GET /security/settings", s.handle(s.auditSettings))
	s.mux.Handle("POST /security/settings", s.handle(s.changeAuditSetting))

	// The JSON API's sign-in (CONTRACT.md).
	s.mux.Handle("POST /api/v1/auth/login", s.handle(s.apiLogin))
	s.mux.Handle("POST /api/v1/auth/mfa", s.handle(s.apiMFA))
	s.mux.Handle("POST /api/v1/auth/logout", s.handle(s.apiLogout))
	s.mux.Handle("GET /api/v1/me", s.handle(s.apiMe))

	s.mux.Handle("GET /patients/{patientID}/results", s.handle(s.labsPage))
	s.mux.Handle("GET /patients/{patientID}/access-history", s.handle(s.accessHistory))
	s.mux.Handle("GET /api/v1/patients/{patientID}/labs", s.handle(s.labsJSON))

	// Anything else is a friendly 404 page (or JSON under /api/).
	s.mux.Handle("/", s.handle(s.notFound))
}
