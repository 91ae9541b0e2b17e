package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHandler reports the cost of the whole middleware stack and the
// home page template, without the network.
func BenchmarkHandler(b *testing.B) {
	s, err := New(Options{Logger: discardLogger(), Registry: newRegistry(), CSRFKey: testCSRFKey, PracticeName: "Riverside Urology", Clinical: fakeClinical{}})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://127.0.0.1/", nil))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
