package web

// routes registers every route of the portal, in one place. Handlers return
// errors (HandlerFunc) and are wrapped with s.handle. Add new routes here,
// e.g.:
//
//	s.mux.Handle("GET /patients/{patientID}/labs", s.handle(s.labs))
func (s *Server) routes() {
	s.mux.Handle("GET /{$}", s.handle(s.home))
	s.mux.Handle("GET /static/{file}", s.handle(s.static.serve))

	s.mux.Handle("GET /patients/{patientID}/results", s.handle(s.labsPage))
	s.mux.Handle("GET /api/v1/patients/{patientID}/labs", s.handle(s.labsJSON))

	// Anything else is a friendly 404 page (or JSON under /api/).
	s.mux.Handle("/", s.handle(s.notFound))
}
