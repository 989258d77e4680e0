package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metricsServer is the admin server with the daemon's runtime and process
// collectors and one counter of its own.
func metricsServer(t testing.TB) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketd_test_total", Help: "A counter."})
	c.Add(3)
	reg.MustRegister(c)
	h, err := NewServer(ServerOptions{Token: testToken, Listen: "127.0.0.1:8025", Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func scrape(h http.Handler) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "http://127.0.0.1:8025/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestMetricsUncompressed: /metrics answers in plain text even to a
// scraper that offers gzip (as Go's HTTP client and Prometheus do), so a
// scrape does not cost the daemon a compressor.
func TestMetricsUncompressed(t *testing.T) {
	w := scrape(metricsServer(t))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
	}
	if enc := w.Header().Get("Content-Encoding"); enc != "" {
		t.Errorf("Content-Encoding %q, want none", enc)
	}
	for _, m := range []string{"ticketd_test_total 3", "go_goroutines ", "process_resident_memory_bytes "} {
		if !strings.Contains(w.Body.String(), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

// BenchmarkMetricsScrape is one scrape of /metrics by a client offering
// gzip: what it allocates is what a scraper costs the daemon.
func BenchmarkMetricsScrape(b *testing.B) {
	h := metricsServer(b)
	b.ReportAllocs()
	for b.Loop() {
		if w := scrape(h); w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
