package web

import (
	"net/http"

	"uroportal/internal/fault"
)

var errNotFound = fault.E(fault.NotFound, "", nil)

// home is the landing page.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	return s.pages.render(w, r, http.StatusOK, "home", "Welcome", homePage{})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	return errNotFound
}
