package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"uroportal/internal/clock"
)

// Metrics holds the HTTP collectors of the portal.
type Metrics struct {
	clock    clock.Clock
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// NewMetrics creates the HTTP collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer, clk clock.Clock) (*Metrics, error) {
	m := &Metrics{
		clock: clk,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "uroportal_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "uroportal_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "uroportal_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
	}
	return m, nil
}

// Middleware counts and times every request by route pattern.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := m.clock.Now()
		m.inFlight.Inc()
		rec := record(w)
		ri, r := withRouteInfo(r)
		completed := false
		defer func() {
			m.inFlight.Dec()
			route := ri.label()
			m.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(rec.statusFor(completed))).Inc()
			m.latency.WithLabelValues(route).Observe(max(m.clock.Now().Sub(start), 0).Seconds())
		}()
		next.ServeHTTP(rec, r)
		completed = true
	})
}
