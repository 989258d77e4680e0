package admin

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// init undoes what importing net/http/pprof does: its own init registers
// the profiles on http.DefaultServeMux (as expvar's, which prometheus
// links in, registers /debug/vars), which any server in the process left
// with a nil Handler would then serve to anyone who can reach it. ticketd
// serves the profiles only on the admin API, behind its token (see
// [ServerOptions.Pprof]), and leaves DefaultServeMux empty.
func init() { http.DefaultServeMux = new(http.ServeMux) }

// handlePprof registers Go's profiling endpoints of net/http/pprof on mux:
// the index at /debug/pprof/ and, through it, every runtime profile by
// name (heap, allocs, goroutine, block, mutex, threadcreate), plus the CPU
// profile (?seconds=, 30 by default), the execution trace (?seconds=, 1
// by default), the command line and the symbol lookup.
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// Contention sampling of [SampleContention]: one contended mutex in
// mutexFraction, and every wait of blockRate or longer (a shorter one
// with the probability of its share of blockRate).
const (
	mutexFraction = 100
	blockRate     = time.Millisecond
)

// SampleContention turns on the runtime's sampling of contended mutexes
// and of goroutines blocked on channels, selects and locks, without which
// the mutex and block profiles of /debug/pprof/ stay empty. The rates are
// the process's; the daemon sets them when it serves the profiles.
func SampleContention() {
	runtime.SetMutexProfileFraction(mutexFraction)
	runtime.SetBlockProfileRate(int(blockRate))
}
