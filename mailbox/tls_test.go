package mailbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// testCert returns a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "imap.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// startTLSServer serves the in-memory server with implicit TLS on one port
// and STARTTLS on another, without InsecureAuth.
func startTLSServer(tb testing.TB, cert tls.Certificate) (implicitPort, startTLSPort int) {
	tb.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(testUser, testPass)
	if err := user.Create("INBOX", nil); err != nil {
		tb.Fatal(err)
	}
	mem.AddUser(user)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:      imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		TLSConfig: cfg,
		Logger:    log.New(io.Discard, "", 0),
	})
	tb.Cleanup(func() { srv.Close() })
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	implicit, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(plain)
	go srv.Serve(tls.NewListener(implicit, cfg))
	return implicit.Addr().(*net.TCPAddr).Port, plain.Addr().(*net.TCPAddr).Port
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cert, pool := testCert(t)
	_, otherPool := testCert(t)
	implicitPort, startTLSPort := startTLSServer(t, cert)
	for _, tc := range []struct {
		name   string
		mode   TLSMode
		port   int
		roots  *x509.CertPool
		wantIs error
	}{
		{"implicit trusted", TLSImplicit, implicitPort, pool, nil},
		{"implicit untrusted", TLSImplicit, implicitPort, otherPool, ErrTLS},
		{"starttls trusted", TLSStartTLS, startTLSPort, pool, nil},
		{"starttls untrusted", TLSStartTLS, startTLSPort, otherPool, ErrTLS},
		{"clear text to the TLS port", TLSNone, implicitPort, nil, ErrTLS},
		{"starttls to the TLS port", TLSStartTLS, implicitPort, pool, ErrTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logger, _ := testLogger(t)
			opts := Options{
				Host: "127.0.0.1", Port: tc.port, TLS: tc.mode,
				Username: testUser, Password: testPass,
				CommandTimeout: time.Second, Logger: logger,
			}
			if tc.roots != nil {
				opts.TLSConfig = &tls.Config{RootCAs: tc.roots}
			}
			err := newPoller(t, opts).Check(t.Context())
			t.Logf("Check() = %v", err)
			if tc.wantIs == nil && err != nil {
				t.Errorf("Check() = %v, want nil", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Check() = %v, want errors.Is %v", err, tc.wantIs)
			}
		})
	}
}
