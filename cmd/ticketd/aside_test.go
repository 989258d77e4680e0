package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/demo"
	"github.com/ticketd/ticketd/ticket"
)

// appendRaw puts raw into the support mailbox as a mail delivered there
// without SMTP (no envelope, no Return-Path).
func appendRaw(t *testing.T, addr, raw string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(demo.Desk.Addr, demo.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	cmd := c.Append("INBOX", int64(len(raw)), &imap.AppendOptions{Time: time.Now()})
	if _, err := cmd.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestEveryMailIsListed: a request naming no sender opens a ticket with the
// requester unknown; garbage, an out-of-office about no ticket and a copy
// of a processed mail are listed by `quarantine list --all` with why, from
// the running daemon's API and from the store, and `quarantine raw` gives
// back the raw mail.
func TestEveryMailIsListed(t *testing.T) {
	sys := startMail(t)
	file, cfg := writeConfig(t, sys, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "--config", file}, &bytes.Buffer{}, &bytes.Buffer{}) }()
	defer func() { cancel(); <-done }()
	if err := demo.WaitReady(t.Context(), admin.NewClient(cfg.Admin.Listen, ""), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// IMAP literals carry no NUL (RFC 9051 §4.3), the rest of garbage yes.
	garbage := "\xff\xfe basura \x89PNG\r\n\x01 \xff\xff"
	request := "To: " + demo.Desk.Addr + "\r\nSubject: no imprime\r\nMessage-ID: <nofrom@x>\r\n\r\nSoy Ana (ext. 214): la impresora no imprime.\r\n"
	ooo := "From: jefe@unidad.test\r\nTo: " + demo.Desk.Addr + "\r\nSubject: Fuera de la oficina\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@x>\r\n\r\nVuelvo el lunes.\r\n"
	for _, raw := range []string{request, garbage, ooo, request} {
		appendRaw(t, sys.IMAPAddr(), raw)
	}
	var list []admin.AsideJSON
	deadline := time.Now().Add(20 * time.Second)
	for len(list) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("quarantine list --all = %+v, want 3 mails", list)
		}
		time.Sleep(100 * time.Millisecond)
		list = nil
		if err := json.Unmarshal([]byte(mustCmd(t, "quarantine", "list", "--all", "--json", "--config", file)), &list); err != nil {
			t.Fatal(err)
		}
	}
	kinds := map[string]admin.AsideJSON{}
	for _, a := range list {
		kinds[a.Kind] = a
		if a.At.IsZero() || a.Reason == "" || a.RawSHA256 == "" || a.MessageID == "" {
			t.Errorf("listed %+v, want date, reason, raw mail and Message-ID", a)
		}
	}
	if a := kinds["unreadable"]; !strings.Contains(a.Reason, "unreadable") || a.From != ticket.UnknownRequester {
		t.Errorf("garbage listed as %+v", a)
	}
	if a := kinds["automatic"]; a.From != "jefe@unidad.test" || a.Subject != "Fuera de la oficina" || a.Reason != "auto-submitted: auto-replied" {
		t.Errorf("out-of-office listed as %+v", a)
	}
	var ts []admin.TicketJSON
	if err := json.Unmarshal([]byte(mustCmd(t, "tickets", "--json", "--config", file)), &ts); err != nil || len(ts) != 1 ||
		ts[0].Requester != ticket.UnknownRequester || ts[0].Subject != "no imprime" {
		t.Fatalf("tickets = %+v, %v; want the request without a sender, its requester unknown", ts, err)
	}
	if a := kinds["duplicate"]; a.MessageID != "nofrom@x" || !strings.Contains(a.Reason, string(ts[0].ID)) {
		t.Errorf("the copy of the request listed as %+v", a)
	}
	table := mustCmd(t, "quarantine", "list", "--all", "--config", file)
	if !strings.HasPrefix(table, "KIND") || !strings.Contains(table, kinds["unreadable"].RawSHA256) {
		t.Errorf("quarantine list --all = %q", table)
	}
	// (go-imap's in-memory server hands this garbage back empty, so the
	// bytes compared are the out-of-office's; internal/daemon's
	// TestMailWithoutSenderIsSeen keeps garbage's own bytes.)
	if out := mustCmd(t, "quarantine", "raw", kinds["automatic"].RawSHA256, "--config", file); out != ooo {
		t.Errorf("quarantine raw = %q, want the out-of-office as received", out)
	}
	if _, err := cmd(t, "quarantine", "raw", strings.Repeat("0", 64), "--config", file); err == nil {
		t.Error("quarantine raw of a mail not listed succeeded")
	}

	// Stopped, the commands read the store and list the same.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	var again []admin.AsideJSON
	if err := json.Unmarshal([]byte(mustCmd(t, "quarantine", "list", "--all", "--json", "--config", file)), &again); err != nil || len(again) != len(list) {
		t.Errorf("from the store: %+v, %v; want %d mails", again, err, len(list))
	}
	saved := filepath.Join(t.TempDir(), "ooo.eml")
	mustCmd(t, "quarantine", "raw", kinds["automatic"].RawSHA256, "-o", saved, "--config", file)
	if b, err := os.ReadFile(saved); err != nil || !bytes.Contains(b, []byte("Vuelvo el lunes.")) {
		t.Errorf("saved raw mail = %q, %v", b, err)
	}
}
