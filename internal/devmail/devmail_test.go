package devmail

import (
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
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
