package admin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/blob"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

type fakeRetrier struct{ err error }

func (f fakeRetrier) RetryQuarantined(_ context.Context, id uint64) (service.Result, error) {
	return service.Result{Outcome: service.Opened, TicketID: "OTI-2026-000009"}, f.err
}

func newLocal(t *testing.T) *Local {
	t.Helper()
	dir, err := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: 1, Members: []string{"agente@oti.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	desk, _ := ticket.NewDesk(dir)
	db, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(service.Options{Store: store.Bind(db, func(tx *store.Tx) service.Tx { return tx }), Desk: desk})
	if err != nil {
		t.Fatal(err)
	}
	return &Local{Store: store.Bind(db, func(tx *store.Tx) Tx { return tx }), Service: svc, Directory: dir, Blobs: blobs, Retrier: fakeRetrier{}, Now: time.Now}
}

// TestClientAgainstServer drives every operation through the HTTP API and
// its client, so the command line works the same against a running daemon
// as against the store.
func TestClientAgainstServer(t *testing.T) {
	local := newLocal(t)
	kicked := 0
	local.OnCommit = func() { kicked++ }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handler, err := NewServer(ServerOptions{Backend: local, Token: testToken, Listen: ln.Addr().String(), Health: func(context.Context) Health {
		return Health{Healthy: false, Reason: "the mailbox has not been read yet", OutboxDepth: 2}
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c := NewClient(ln.Addr().String(), testToken)
	ctx := t.Context()

	// A client with a wrong token is told so, and changes nothing.
	wrong := NewClient(ln.Addr().String(), strings.Repeat("x", MinTokenLen))
	if _, err := wrong.Tickets(ctx, ticket.Filter{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Tickets with a wrong token: %v, want ErrUnauthorized", err)
	}
	if _, err := wrong.Open(ctx, OpenRequest{Requester: "ana@unidad.example", Subject: "x", Agent: "agente@oti.example"}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Open with a wrong token: %v, want ErrUnauthorized", err)
	}
	if _, err := wrong.Backup(ctx, io.Discard); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Backup with a wrong token: %v, want ErrUnauthorized", err)
	}
	if !wrong.Ping(ctx) {
		t.Error("Ping needs no token, but failed")
	}

	if !c.Ping(ctx) {
		t.Fatal("Ping: no answer")
	}
	h, err := c.Health(ctx)
	if err != nil || h.Healthy || h.OutboxDepth != 2 {
		t.Errorf("Health = %+v, %v", h, err)
	}
	res, err := c.Open(ctx, OpenRequest{Requester: "ana@unidad.example", RequesterName: "Ana", Subject: "Impresora", Body: "No imprime", Agent: "agente@oti.example"})
	if err != nil || string(res.ID) != "OTI-"+time.Now().UTC().Format("2006")+"-000001" || kicked != 1 {
		t.Fatalf("Open = %+v, %v (kicked %d)", res, err, kicked)
	}
	if _, err := c.Open(ctx, OpenRequest{Requester: "ana@unidad.example"}); err == nil {
		t.Error("Open without subject succeeded")
	}
	ts, err := c.Tickets(ctx, ticket.Filter{State: ticket.StateOpen, Level: 1, Group: "mesa"})
	if err != nil || len(ts) != 1 || ts[0].Requester != "ana@unidad.example" || ts[0].History != nil {
		t.Fatalf("Tickets = %+v, %v", ts, err)
	}
	if ts, err := c.Tickets(ctx, ticket.Filter{State: ticket.StateClosed}); err != nil || len(ts) != 0 {
		t.Errorf("closed tickets = %+v, %v", ts, err)
	}
	one, err := c.Ticket(ctx, res.ID)
	if err != nil || len(one.History) != 1 || one.History[0].Kind != ticket.KindOpened || one.LevelTimes == nil || one.Body != "No imprime" {
		t.Fatalf("Ticket = %+v, %v", one, err)
	}
	if _, err := c.Ticket(ctx, "OTI-2026-999999"); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("missing ticket: %v, want ErrNotFound", err)
	}
	rep, err := c.Verify(ctx)
	if err != nil || rep.Checked != 1 || len(rep.Bad) != 0 {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
	var buf bytes.Buffer
	if n, err := c.Backup(ctx, &buf); err != nil || n == 0 || int64(buf.Len()) != n {
		t.Errorf("Backup = %d, %v", n, err)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := store.Open(backup, store.Options{})
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	bdb.Close()

	// Quarantine: a record with its raw mail.
	ref, err := local.Blobs.Put(strings.NewReader("Subject: roto\r\n\r\ncuerpo"))
	if err != nil {
		t.Fatal(err)
	}
	db := local.Store.(store.Bound[Tx]).DB // a quarantined mail is the daemon's to record
	err = db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.Quarantine(record.Quarantined{MessageID: "q@x", Reason: "boom", ReceivedAt: time.Now(), RawSHA256: ref.SHA256})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	qs, err := c.Quarantine(ctx)
	if err != nil || len(qs) != 1 || qs[0].Reason != "boom" {
		t.Fatalf("Quarantine = %+v, %v", qs, err)
	}
	d, err := c.QuarantineShow(ctx, qs[0].ID)
	if err != nil || !strings.Contains(d.Raw, "Subject: roto") {
		t.Errorf("QuarantineShow = %+v, %v", d, err)
	}
	if _, err := c.QuarantineShow(ctx, 99); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("QuarantineShow(99) = %v", err)
	}
	if r, err := c.QuarantineRetry(ctx, qs[0].ID); err != nil || r.ID != "OTI-2026-000009" {
		t.Errorf("QuarantineRetry = %+v, %v", r, err)
	}
	local.Retrier = fakeRetrier{err: errors.New("still broken")}
	if _, err := c.QuarantineRetry(ctx, qs[0].ID); err == nil || !strings.Contains(err.Error(), "still broken") {
		t.Errorf("failing retry = %v", err)
	}
}

func TestParseFilter(t *testing.T) {
	if f, err := ParseFilter("resolved", "2", "Redes"); err != nil || f.State != ticket.StateResolved || f.Level != 2 || f.Group != "redes" {
		t.Errorf("ParseFilter = %+v, %v", f, err)
	}
	for _, bad := range [][2]string{{"pending", ""}, {"", "4"}, {"", "x"}} {
		if _, err := ParseFilter(bad[0], bad[1], ""); err == nil {
			t.Errorf("ParseFilter(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

func TestListenUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	if err := os.WriteFile(path, nil, 0o600); err != nil { // a stale file
		t.Fatal(err)
	}
	ln, err := Listen("unix:" + path)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	h, err := NewServer(ServerOptions{Backend: newLocal(t), Token: testToken, Listen: "unix:" + path})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c := NewClient("unix:"+path, testToken)
	if !c.Ping(t.Context()) {
		t.Fatal("no answer over the unix socket")
	}
	if ts, err := c.Tickets(t.Context(), ticket.Filter{}); err != nil || len(ts) != 0 {
		t.Errorf("Tickets = %v, %v", ts, err)
	}
	if _, err := NewClient("unix:"+path, "").Tickets(t.Context(), ticket.Filter{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Tickets without a token over the socket: %v, want ErrUnauthorized", err)
	}
	if _, err := Listen("256.0.0.1:bad"); err == nil {
		t.Error("Listen on a bad address succeeded")
	}
}
