package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// checkReport runs `ticketd report` in each format: this month so far
// holds the opened tickets, each opened today and still open.
func checkReport(t *testing.T, file string, opened int) {
	t.Helper()
	var r struct {
		Opened, Closed int
		From, To       string
	}
	if err := json.Unmarshal([]byte(mustCmd(t, "report", "--format", "json", "--config", file)), &r); err != nil || r.Opened != opened || r.Closed != 0 {
		t.Errorf("report --format json = %+v, %v; want %d opened, 0 closed", r, err, opened)
	}
	if out := mustCmd(t, "report", "--by", "level", "--config", file); !strings.Contains(out, "Abiertos") || !strings.Contains(out, "Nivel 1") {
		t.Errorf("report table = %q", out)
	}
	if out := mustCmd(t, "report", "--format", "csv", "--by", "month", "--config", file); !strings.HasPrefix(out, "key,opened,resolved,closed,reopened") {
		t.Errorf("report csv = %q", out)
	}
	if out := mustCmd(t, "report", "--format", "html", "--config", file); !strings.HasPrefix(out, "<!DOCTYPE html>") {
		t.Errorf("report html starts %q", out[:min(len(out), 40)])
	}
	for _, args := range [][]string{{"--from", "2026-13-01"}, {"--by", "colour"}, {"--format", "pdf"}, {"--from", "2026-11-30", "--to", "2026-11-01"}} {
		if _, err := cmd(t, append([]string{"report", "--config", file}, args...)...); err == nil {
			t.Errorf("report %v succeeded", args)
		}
	}
}
