//go:build e2e

package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
)

// dkimSelector is the selector of the test domain's DKIM key.
const dkimSelector = "e2e"

// signer signs the mails the tests send from the stack's domain, as the
// organisation's outgoing server does, with a key made for this run and
// published by a DNS server on 127.0.0.1 that ticketd asks
// (security.dns_resolver). Set by testMain.
var signer *dkimSigner

type dkimSigner struct {
	domain string
	key    ed25519.PrivateKey
	// dnsAddr is the host:port of the DNS server.
	dnsAddr string
	srv     *dns.Server
}

// startDKIM makes a key for domain and serves its record on 127.0.0.1.
func startDKIM(domain string) (*dkimSigner, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	name := dns.Fqdn(dkimSelector + "._domainkey." + domain)
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch {
		case !strings.EqualFold(q.Name, name):
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeTXT:
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{record}})
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	return &dkimSigner{domain: domain, key: priv, dnsAddr: pc.LocalAddr().String(), srv: srv}, nil
}

func (s *dkimSigner) stop() { _ = s.srv.Shutdown() }

// sign returns raw with a DKIM signature of the domain when m is from the
// domain and not marked Unsigned.
func (s *dkimSigner) sign(m *outMail, raw []byte) ([]byte, error) {
	if m.Unsigned || !strings.HasSuffix(strings.ToLower(bareAddr(m.From)), "@"+s.domain) {
		return raw, nil
	}
	var b bytes.Buffer
	err := dkim.Sign(&b, bytes.NewReader(raw), &dkim.SignOptions{Domain: s.domain, Selector: dkimSelector, Signer: s.key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"}})
	if err != nil {
		return nil, fmt.Errorf("dkim sign mail %s: %w", m.MessageID, err)
	}
	return b.Bytes(), nil
}
