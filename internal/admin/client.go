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

	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

// Client reaches the admin API of a running daemon. It implements Backend.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client for the daemon listening on addr ("host:port"
// or "unix:/path"). It does no I/O.
func NewClient(addr string) *Client {
	tr := &http.Transport{}
	base := "http://" + addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://ticketd"
	}
	return &Client{base: base, http: &http.Client{Transport: tr}}
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
func (c *Client) Tickets(ctx context.Context, f store.Filter) ([]TicketJSON, error) {
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
func (c *Client) Quarantine(ctx context.Context) ([]store.Quarantined, error) {
	var qs []store.Quarantined
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/backup", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backup through the daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("backup through the daemon: %s", resp.Status)
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
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the daemon: %w", err)
	}
	defer resp.Body.Close()
	ok := resp.StatusCode == http.StatusOK
	for _, c := range okCodes {
		ok = ok || resp.StatusCode == c
	}
	if !ok {
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		err := errors.New(e.Error)
		if e.Error == "" {
			err = errors.New(resp.Status)
		}
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %v", store.ErrNotFound, err)
		}
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode the daemon's answer: %w", err)
	}
	return nil
}
