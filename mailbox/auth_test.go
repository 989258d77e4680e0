package mailbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

const goodToken = "ya29.good-token"

// oauthSession is an in-memory session that accepts XOAUTH2 and OAUTHBEARER
// with goodToken for testUser, as Gmail or Microsoft 365 would.
type oauthSession struct {
	*imapmemserver.UserSession
}

func (s *oauthSession) Login(string, string) error { return imapserver.ErrAuthFailed }

func (s *oauthSession) AuthenticateMechanisms() []string {
	return []string{"XOAUTH2", sasl.OAuthBearer}
}

func (s *oauthSession) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case "XOAUTH2":
		return &xoauth2Server{}, nil
	case sasl.OAuthBearer:
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if o.Username != testUser || o.Token != goodToken {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		}), nil
	}
	return nil, errors.New("unsupported mechanism")
}

// xoauth2Server is the server side of XOAUTH2: a rejected token gets a JSON
// challenge, and the client's empty answer then gets NO.
type xoauth2Server struct{ rejected bool }

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case s.rejected:
		return nil, true, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "invalid token"}
	case resp == nil:
		return []byte{}, false, nil // ask for the initial response
	case string(resp) == "user="+testUser+"\x01auth=Bearer "+goodToken+"\x01\x01":
		return nil, true, nil
	}
	s.rejected = true
	return []byte(`{"status":"401","schemes":"bearer","scope":"https://outlook.office.com/IMAP.AccessAsUser.All"}`), false, nil
}

func TestOAuthEndToEnd(t *testing.T) {
	t.Parallel()
	s := startServer(t, imap.CapSet{imap.CapIMAP4rev1: {}}, func(u *imapmemserver.User) imapserver.Session {
		return &oauthSession{imapmemserver.NewUserSession(u)}
	})
	s.appendMail(t, "INBOX", testMail(1, 100))
	for _, tc := range []struct {
		auth  Auth
		token string
		ok    bool
	}{
		{AuthXOAUTH2, goodToken, true},
		{AuthXOAUTH2, "expired", false},
		{AuthOAuthBearer, goodToken, true},
		{AuthOAuthBearer, "expired", false},
	} {
		t.Run(string(tc.auth)+"/"+tc.token, func(t *testing.T) {
			t.Parallel()
			opts, _ := testOptions(t, s)
			opts.Auth, opts.Password = tc.auth, ""
			opts.Token = func(context.Context) (string, error) { return tc.token, nil }
			err := newPoller(t, opts).Check(t.Context())
			t.Logf("Check() = %v", err)
			if tc.ok && err != nil {
				t.Errorf("Check() = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrAuth) {
				t.Errorf("Check() = %v, want ErrAuth", err)
			}
		})
	}
	t.Run("token source fails", func(t *testing.T) {
		t.Parallel()
		opts, _ := testOptions(t, s)
		opts.Auth, opts.Password = AuthXOAUTH2, ""
		opts.Token = func(context.Context) (string, error) { return "", errors.New("token command exited 1") }
		err := newPoller(t, opts).Check(t.Context())
		if err == nil || !strings.Contains(err.Error(), "token command exited 1") {
			t.Errorf("Check() = %v, want the token source's error", err)
		}
	})
	t.Run("xoauth2 fetches mail", func(t *testing.T) {
		t.Parallel()
		opts, _ := testOptions(t, s)
		opts.Auth, opts.Password = AuthXOAUTH2, ""
		opts.Token = func(context.Context) (string, error) { return goodToken, nil }
		// Every command is guarded by this timeout: a guard left armed
		// would cut the healthy connection.
		opts.CommandTimeout = 100 * time.Millisecond
		r := newRecorder(Checkpoint{})
		p := newPoller(t, opts)
		run(t, p, r)
		r.waitFor(t, 1)
		time.Sleep(3 * opts.CommandTimeout) // let a stray guard fire, if any
		if st := p.Status(); st.Reconnects != 0 || !st.Connected {
			t.Errorf("Status() = %+v, want the first connection still up", st)
		}
	})
}
