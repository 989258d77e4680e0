package mailbox

import (
	"encoding/json"
	"fmt"

	"github.com/emersion/go-sasl"
)

// xoauth2Client is the XOAUTH2 SASL mechanism of Google and Microsoft 365,
// which go-sasl lacks. The initial response is
// "user=" U "\x01auth=Bearer " T "\x01\x01".
type xoauth2Client struct {
	username, token string
	// failure holds the JSON error the server sent, if any.
	failure string
}

var _ sasl.Client = (*xoauth2Client)(nil)

func newXOAuth2Client(username, token string) *xoauth2Client {
	return &xoauth2Client{username: username, token: token}
}

// Start implements [sasl.Client].
func (c *xoauth2Client) Start() (mech string, ir []byte, err error) {
	return "XOAUTH2", []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

// Next implements [sasl.Client]. The only challenge XOAUTH2 servers send is a
// JSON error after a rejected token; the client must answer with an empty
// response, after which the server fails the command with NO.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	var e struct {
		Status string `json:"status"`
		Scope  string `json:"scope"`
	}
	if json.Unmarshal(challenge, &e) == nil && e.Status != "" {
		c.failure = fmt.Sprintf("status %s, scope %q", e.Status, e.Scope)
	} else {
		c.failure = fmt.Sprintf("%q", challenge)
	}
	return []byte{}, nil
}
