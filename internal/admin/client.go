package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
)

// Client reaches the admin API of a running daemon. It implements Backend.
// It is safe for use by several goroutines.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// unixHost is the Host a [Client] sends over a unix socket.
const unixHost = "ticketd"

// ErrUnauthorized is matched (with errors.Is) by the error of a call the
// daemon refused for a missing or wrong token.
var ErrUnauthorized = errors.New("admin: the daemon refused the admin token")

// NewClient returns a client for the daemon listening on addr ("host:port"
// or "unix:/path") that authenticates with token (the content of
// admin.token_file, see [ReadToken]); /healthz needs none. It does no I/O.
func NewClient(addr, token string) *Client {
	tr := &http.Transport{}
	base := "http://" + addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://" + unixHost
	}
	return &Client{base: base, token: token, http: &http.Client{Transport: tr}}
}

// Ping reports whether a daemon answers on the address.
func (c *Client) Ping(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// Health fetches /healthz.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.do(ctx, http.MethodGet, "/healthz", nil, &h, http.StatusServiceUnavailable)
	return h, err
}

// Tickets lists tickets.
func (c *Client) Tickets(ctx context.Context, f ticket.Filter) ([]TicketJSON, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Level != 0 {
		q.Set("level", strconv.Itoa(int(f.Level)))
	}
	if f.Group != "" {
		q.Set("group", f.Group)
	}
	if f.Overdue {
		q.Set("overdue", "true")
	}
	if f.DueWithin > 0 {
		q.Set("due_within", f.DueWithin.String())
	}
	var ts []TicketJSON
	err := c.do(ctx, http.MethodGet, "/api/tickets?"+q.Encode(), nil, &ts)
	return ts, err
}

// Ticket returns one ticket with its history.
func (c *Client) Ticket(ctx context.Context, id ticket.ID) (TicketJSON, error) {
	var t TicketJSON
	err := c.do(ctx, http.MethodGet, "/api/tickets/"+url.PathEscape(string(id)), nil, &t)
	return t, err
}

// Open opens a ticket for a phone request.
func (c *Client) Open(ctx context.Context, req OpenRequest) (OpenResult, error) {
	var res OpenResult
	err := c.do(ctx, http.MethodPost, "/api/tickets", req, &res)
	return res, err
}

// Quarantine lists quarantined mail.
func (c *Client) Quarantine(ctx context.Context) ([]record.Quarantined, error) {
	var qs []record.Quarantined
	err := c.do(ctx, http.MethodGet, "/api/quarantine", nil, &qs)
	return qs, err
}

// QuarantineShow returns one quarantine record.
func (c *Client) QuarantineShow(ctx context.Context, id uint64) (QuarantineDetail, error) {
	var d QuarantineDetail
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/quarantine/%d", id), nil, &d)
	return d, err
}

// QuarantineRetry re-runs a quarantined mail.
func (c *Client) QuarantineRetry(ctx context.Context, id uint64) (OpenResult, error) {
	var res OpenResult
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/quarantine/%d/retry", id), nil, &res)
	return res, err
}

// Verify checks every ticket's history.
func (c *Client) Verify(ctx context.Context) (VerifyReport, error) {
	var rep VerifyReport
	err := c.do(ctx, http.MethodGet, "/api/verify", nil, &rep)
	return rep, err
}

// Backup streams a consistent copy of the store into w.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, http.MethodGet, "/api/backup", nil)
	if err != nil {
		return 0, fmt.Errorf("backup through the daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("backup through the daemon: %w", answerError(resp))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup through the daemon: %w", err)
	}
	return n, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any, okCodes ...int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ok := resp.StatusCode == http.StatusOK
	for _, c := range okCodes {
		ok = ok || resp.StatusCode == c
	}
	if !ok {
		return answerError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode the daemon's answer: %w", err)
	}
	return nil
}

// send sends one request with the token and, for a POST, the JSON
// content type the server requires.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the daemon: %w", err)
	}
	return resp, nil
}

// answerError is the error of an answer other than the expected one: the
// server's JSON error, or its status.
func answerError(resp *http.Response) error {
	var e struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	err := errors.New(e.Error)
	if e.Error == "" {
		err = errors.New(resp.Status)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %v", record.ErrNotFound, err)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	return err
}
