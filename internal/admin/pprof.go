package admin

import (
	"net/http"
	"net/http/pprof"
)

// init undoes what importing net/http/pprof does: its own init registers
// the profiles on http.DefaultServeMux, which any server in the process
// left with a nil Handler would then serve to anyone who can reach it.
// ticketd serves them only on the admin API, behind its token (see
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
