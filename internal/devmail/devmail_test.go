package devmail

import (
	"bytes"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ticketd/ticketd/mailbox/sender"
)

func TestDeliverAndRead(t *testing.T) {
	got := make(chan Delivery, 1)
	sys, err := Start(Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", Domain: "x.test",
		Users: []string{"ana@x.test", "Desk@x.test"}, Password: "pw", OnDeliver: func(d Delivery) { got <- d }})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	msg := "From: ana@x.test\r\nTo: desk@x.test\r\nSubject: hola\r\n\r\ncuerpo\r\n"
	if err := smtp.SendMail(sys.SMTPAddr(), nil, "ana@x.test", []string{"desk@x.test"}, []byte(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	select {
	case d := <-got:
		if d.From != "ana@x.test" || len(d.To) != 1 || !strings.Contains(string(d.Raw), "Message-ID: <") || !strings.Contains(string(d.Raw), "Date: ") {
			t.Errorf("delivery = %+v / %q", d, d.Raw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	if ds, n, _ := sys.Deliveries(0); n != 1 || len(ds) != 1 {
		t.Errorf("Deliveries = %d, %d", len(ds), n)
	}
	err = smtp.SendMail(sys.SMTPAddr(), nil, "ana@x.test", []string{"nadie@x.test"}, []byte(msg))
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("unknown recipient: %v, want 550", err)
	}

	c, err := imapclient.DialInsecure(sys.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("desk@x.test", "pw").Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("select: %+v, %v", sel, err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v", err)
	}
	body := string(msgs[0].BodySection[0].Bytes)
	if !strings.HasPrefix(body, "Return-Path: <ana@x.test>\r\nDelivered-To: desk@x.test\r\n") || !strings.Contains(body, "cuerpo") {
		t.Errorf("stored mail = %q", body)
	}
}

// TestAuthenticationResults checks that a logged-in sender's mail carries
// this server's auth=pass for the login, that what the client wrote under
// the server's authserv-id is removed, and that mailbox/sender trusts the
// result.
func TestAuthenticationResults(t *testing.T) {
	got := make(chan Delivery, 4)
	sys, err := Start(Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", Domain: "x.test",
		Users: []string{"ana@x.test", "desk@x.test"}, Password: "pw", OnDeliver: func(d Delivery) { got <- d }})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	msg := "Authentication-Results: x.test; auth=pass smtp.auth=boss@x.test\r\n" +
		"Authentication-Results: other.example; dmarc=pass header.from=x.test\r\n" +
		"From: ana@x.test\r\nTo: desk@x.test\r\nSubject: hola\r\n\r\n#cerrar\r\n"
	host, _, _ := net.SplitHostPort(sys.SMTPAddr())
	policy, err := sender.NewPolicy([]string{"auth"}, []string{"x.test"})
	if err != nil {
		t.Fatal(err)
	}
	checker, err := sender.New(sender.Options{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		auth    smtp.Auth
		want    string
		trusted bool
	}{
		{"logged in", smtp.PlainAuth("", "Ana@x.test", "pw", host), "Authentication-Results: x.test; auth=pass smtp.auth=ana@x.test\r\n", true},
		{"not logged in", nil, "Authentication-Results: x.test; auth=none\r\n", false},
	}
	for _, tt := range tests {
		if err := smtp.SendMail(sys.SMTPAddr(), tt.auth, "ana@x.test", []string{"desk@x.test"}, []byte(msg)); err != nil {
			t.Fatalf("%s: SendMail: %v", tt.name, err)
		}
		var d Delivery
		select {
		case d = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no delivery", tt.name)
		}
		raw := string(d.Raw)
		hdr, _, _ := strings.Cut(raw, "\r\n\r\n")
		if !strings.Contains(hdr, tt.want) || strings.Count(hdr, "x.test; auth=") != 1 ||
			!strings.Contains(hdr, "other.example; dmarc=pass") || strings.Contains(hdr, "boss@") {
			t.Errorf("%s: header =\n%s\nwant one %q, the foreign field kept and the forged one gone", tt.name, hdr, tt.want)
		}
		if strings.Index(hdr, tt.want) > strings.Index(hdr, "other.example") {
			t.Errorf("%s: the server's field is not above the client's", tt.name)
		}
		v := checker.Check(t.Context(), sender.Mail{Raw: bytes.NewReader(d.Raw), From: "ana@x.test"})
		if v.Trusted != tt.trusted {
			t.Errorf("%s: Check = %+v, want trusted %v", tt.name, v, tt.trusted)
		}
	}
	err = smtp.SendMail(sys.SMTPAddr(), smtp.PlainAuth("", "ana@x.test", "wrong", host), "ana@x.test", []string{"desk@x.test"}, []byte(msg))
	if err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: %v, want 535", err)
	}
}
