package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

// TestSignedOut: every staff page sends a stranger to /login; downloads
// and the event stream answer 401; the login pages and static files work.
func TestSignedOut(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/", "/t/OTI-2026-000001", "/search?q=x", "/reports"} {
		if w := e.do(t, "GET", p, nil, nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
			t.Errorf("GET %s signed out: %d %s, want 303 to /login", p, w.Code, w.Header().Get("Location"))
		}
	}
	for _, p := range []string{"/events", "/t/OTI-2026-000001/file/" + e.t1.Attachments[0].SHA256, "/t/OTI-2026-000001/raw/1"} {
		if w := e.do(t, "GET", p, nil, nil); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s signed out: %d, want 401", p, w.Code)
		}
	}
	for _, p := range []string{"/login", "/static/console.css", "/static/console.js"} {
		if w := e.do(t, "GET", p, nil, nil); w.Code != http.StatusOK {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}
	if w := e.do(t, "GET", "/static/../layout.html", nil, nil); w.Code == http.StatusOK {
		t.Errorf("a template is served as a static file")
	}
	if w := e.do(t, "GET", "/static/layout.html", nil, nil); w.Code == http.StatusOK {
		t.Errorf("a template is served as a static file")
	}
}

// TestLoginLinks: a staff member gets a link that works once; a stranger
// gets the same page and no mail; a used or an expired link is refused.
func TestLoginLinks(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(t, desk)
	if w := e.do(t, "GET", "/", c, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "OTI-2026-000001") {
		t.Fatalf("queues after sign-in: %d %s", w.Code, w.Body)
	}

	// The same answer for a stranger, and no mail at all.
	_, n, _ := e.mail.Deliveries(0)
	staff := e.do(t, "POST", "/login", nil, url.Values{"email": {redes}})
	other := e.do(t, "POST", "/login", nil, url.Values{"email": {stranger}})
	if staff.Code != other.Code || staff.Body.String() != other.Body.String() {
		t.Errorf("answers differ: staff %d %q, stranger %d %q", staff.Code, staff.Body, other.Code, other.Body)
	}
	e.askLink(t, infra) // the mailer works in order: once infra's link is out, the stranger's turn is past
	ds, _, _ := e.mail.Deliveries(n)
	for _, d := range ds {
		for _, to := range d.To {
			if to == stranger {
				t.Errorf("a stranger got a mail:\n%s", d.Raw)
			}
		}
	}

	// A link works once.
	link := e.askLink(t, redes)
	if w := e.do(t, "GET", link, nil, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `method="post"`) {
		t.Errorf("GET %s: %d; want a page with a button (a GET spends nothing)", link, w.Code)
	}
	if w := e.do(t, "POST", link, nil, url.Values{}); w.Code != http.StatusSeeOther {
		t.Fatalf("first use: %d", w.Code)
	}
	if w := e.do(t, "POST", link, nil, url.Values{}); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "ya se usó") {
		t.Errorf("reused link: %d %s, want 403 and 'ya se usó'", w.Code, w.Body)
	}

	// A link expires after 15 minutes.
	link = e.askLink(t, redes)
	e.clock.add(LinkTTL + time.Second)
	if w := e.do(t, "POST", link, nil, url.Values{}); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "venció") {
		t.Errorf("expired link: %d %s, want 403 and 'venció'", w.Code, w.Body)
	}
	if w := e.do(t, "POST", "/login/forged", nil, url.Values{}); w.Code != http.StatusForbidden {
		t.Errorf("unknown link: %d", w.Code)
	}

	// The session ends after the idle time.
	e.clock.add(8*time.Hour + time.Minute)
	if w := e.do(t, "GET", "/", c, nil); w.Code != http.StatusSeeOther {
		t.Errorf("idle session: %d, want 303 to /login", w.Code)
	}
}

// TestLoginRateLimit: past three links per address, or ten per client,
// the form answers 429, for any address alike.
func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		if w := e.do(t, "POST", "/login", nil, url.Values{"email": {stranger}}); w.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	if w := e.do(t, "POST", "/login", nil, url.Values{"email": {stranger}}); w.Code != http.StatusTooManyRequests {
		t.Errorf("fourth request for one address: %d, want 429", w.Code)
	}
}

// TestVisibility: the desk sees every ticket; a level-2 member the level-2
// one only; a level-3 member cannot open the level-2 one.
func TestVisibility(t *testing.T) {
	e := newEnv(t)
	cd, c2, c3 := e.signIn(t, desk), e.signIn(t, redes), e.signIn(t, infra)
	q := e.do(t, "GET", "/", cd, nil).Body.String()
	for _, id := range []string{"OTI-2026-000001", "OTI-2026-000002", "OTI-2026-000003"} {
		if !strings.Contains(q, id) {
			t.Errorf("desk's queues lack %s", id)
		}
	}
	q2 := e.do(t, "GET", "/", c2, nil).Body.String()
	if !strings.Contains(q2, "OTI-2026-000002") || strings.Contains(q2, "OTI-2026-000001") || strings.Contains(q2, "OTI-2026-000003") {
		t.Errorf("level 2's queues:\n%s", q2)
	}
	if w := e.do(t, "GET", "/t/OTI-2026-000002", c3, nil); w.Code != http.StatusNotFound {
		t.Errorf("level 3 opens a level-2 case: %d, want 404", w.Code)
	}
	if w := e.do(t, "GET", "/t/OTI-2026-000002/raw/1", c3, nil); w.Code != http.StatusNotFound {
		t.Errorf("level 3 downloads a level-2 raw mail: %d, want 404", w.Code)
	}
	if w := e.do(t, "GET", "/t/OTI-2026-000009", cd, nil); w.Code != http.StatusNotFound {
		t.Errorf("a case that does not exist: %d", w.Code)
	}
	if w := e.do(t, "GET", "/search?q=impresora", c3, nil); strings.Contains(w.Body.String(), "OTI-2026-000002") {
		t.Errorf("level 3's search shows a level-2 case")
	}
}

// TestCase: the whole history with the internal note marked, the file
// served as a download under a safe name, the raw mail, the actions.
func TestCase(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(t, desk)
	w := e.do(t, "GET", "/t/OTI-2026-000001", c, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "SECRETO interno") || !strings.Contains(body, `class="internal"`) {
		t.Fatalf("case page: %d\n%s", w.Code, body)
	}
	if !strings.Contains(body, "mailto:") || !strings.Contains(body, "#resolver") {
		t.Errorf("case page offers no mailto: actions:\n%s", body)
	}
	a := e.t1.Attachments[0]
	w = e.do(t, "GET", "/t/OTI-2026-000001/file/"+a.SHA256, c, nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Disposition") != `attachment; filename=x.html` ||
		w.Header().Get("Content-Type") != "application/octet-stream" || w.Body.String() != "<script>alert(1)</script>" {
		t.Errorf("attachment: %d %v %q", w.Code, w.Header(), w.Body)
	}
	if w := e.do(t, "GET", "/t/OTI-2026-000002/file/"+a.SHA256, c, nil); w.Code != http.StatusNotFound {
		t.Errorf("another ticket's file through this one: %d", w.Code)
	}
	w = e.do(t, "GET", "/t/OTI-2026-000001/raw/1", c, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Disposition"), "attachment") || !strings.Contains(w.Body.String(), "no imprime") {
		t.Errorf("raw mail: %d %v", w.Code, w.Header())
	}
}

// TestStatusPage: the requester's link shows her case without internal
// notes; a link changed by one character, or another ticket's ID with this
// MAC, is the same 404.
func TestStatusPage(t *testing.T) {
	e := newEnv(t)
	u := e.s.StatusURL(e.t1.ID)
	if !strings.HasPrefix(u, base+"/s/OTI-2026-000001.") || len(u)-len(base+"/s/OTI-2026-000001.") != 26 {
		t.Fatalf("StatusURL = %q", u)
	}
	p := strings.TrimPrefix(u, base)
	w := e.do(t, "GET", p, nil, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "Vamos a revisarla hoy.") || !strings.Contains(body, "Mesa de servicios (nivel 1)") {
		t.Fatalf("status page: %d\n%s", w.Code, body)
	}
	if strings.Contains(body, "SECRETO") || strings.Contains(body, desk) {
		t.Errorf("status page shows an internal note or a staff address:\n%s", body)
	}
	mac := p[strings.Index(p, ".")+1:]
	for _, bad := range []string{"/s/OTI-2026-000002." + mac, p[:len(p)-1] + "a", "/s/OTI-2026-000001", "/s/x"} {
		if w := e.do(t, "GET", bad, nil, nil); w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "Switch") {
			t.Errorf("GET %s: %d, want 404", bad, w.Code)
		}
	}
}

// TestRefusals: another Host, a cross-site post.
func TestRefusals(t *testing.T) {
	e := newEnv(t)
	r := httptestRequest("GET", "http://evil.example:8026/login")
	if w := serve(e, r); w.Code != http.StatusMisdirectedRequest {
		t.Errorf("Host evil.example: %d, want 421", w.Code)
	}
	for _, h := range []string{"127.0.0.1:8026", "localhost:8026", "soporte.example", "soporte.example:443"} {
		if w := serve(e, httptestRequest("GET", "http://"+h+"/login")); w.Code != http.StatusOK {
			t.Errorf("Host %s: %d, want 200", h, w.Code)
		}
	}
	r = httptestRequest("POST", base+"/login")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if w := serve(e, r); w.Code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", w.Code)
	}
}

// TestPages: search, reports and the event stream answer signed in.
func TestPages(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(t, desk)
	w := e.do(t, "GET", "/search?q=switch", c, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "OTI-2026-000002") || strings.Contains(w.Body.String(), "OTI-2026-000001<") {
		t.Errorf("search: %d\n%s", w.Code, w.Body)
	}
	if w := e.do(t, "GET", "/search?q=OTI-2026-000003", c, nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/t/OTI-2026-000003" {
		t.Errorf("search by ID: %d %s", w.Code, w.Header().Get("Location"))
	}
	if w := e.do(t, "GET", "/search?from=bad", c, nil); w.Code != http.StatusBadRequest {
		t.Errorf("search with a bad date: %d", w.Code)
	}
	if w := e.do(t, "GET", "/?level=2", c, nil); strings.Contains(w.Body.String(), "OTI-2026-000001") {
		t.Errorf("level filter keeps a level-1 case")
	}
}

// TestQueuePages: a long queue shows a page at a time, longest at the
// level first, with the queue's count and links to the other pages; a
// person outside the level sees only the tickets of it they worked on,
// counted so.
func TestQueuePages(t *testing.T) {
	e := newEnv(t)
	now := e.clock.now()
	id := func(n int) ticket.ID { return ticket.NewID("OTI", 2026, uint64(n)) }
	err := e.db.Update(t.Context(), func(tx *store.Tx) error {
		for n := 10; n < 70; n++ { // the higher the ID, the longer at level 2
			tk := &ticket.Ticket{ID: id(n), Subject: fmt.Sprintf("caso %d", n), Requester: ticket.Address{Addr: user1},
				State: ticket.StateOpen, Level: 2, Group: "redes", CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now,
				LevelSince: now.Add(-time.Duration(n) * time.Minute), StateSince: now.Add(-3 * time.Hour)}
			if n == 33 {
				tk.Assignee = infra
			}
			if err := tx.PutTicket(tk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	order := func(t *testing.T, page string, want []ticket.ID) {
		t.Helper()
		last := -1
		for _, w := range want {
			i := strings.Index(page, `href="/t/`+string(w)+`"`)
			if i < last {
				t.Errorf("%s missing or out of order (want %v)", w, want)
			}
			last = i
		}
		if n := strings.Count(page, `<a class="id"`); n != len(want) {
			t.Errorf("page shows %d tickets, want %d", n, len(want))
		}
	}
	var first, second []ticket.ID
	for n := 69; n >= 20; n-- {
		first = append(first, id(n))
	}
	for n := 19; n >= 10; n-- {
		second = append(second, id(n))
	}
	second = append(second, e.t2.ID) // at level 2 since now
	c := e.signIn(t, desk)
	p1 := e.do(t, "GET", "/?level=2&group=redes", c, nil).Body.String()
	order(t, p1, first)
	next := `href="/?group=redes&amp;level=2&amp;page=2&amp;state=open"`
	if !strings.Contains(p1, `<span class="count">61</span>`) || !strings.Contains(p1, "(61 casos)") || !strings.Contains(p1, "Casos 1–50 de 61") ||
		!strings.Contains(p1, next) || strings.Contains(p1, `rel="prev"`) {
		t.Errorf("page 1 lacks the count of 61, the range or the link to page 2 (%s):\n%s", next, p1)
	}
	p2 := e.do(t, "GET", "/?level=2&group=redes&page=2", c, nil).Body.String()
	order(t, p2, second)
	if !strings.Contains(p2, "Casos 51–61 de 61") || !strings.Contains(p2, `rel="prev"`) || strings.Contains(p2, `rel="next"`) {
		t.Errorf("page 2 lacks the range or the link back:\n%s", p2)
	}
	p3 := e.do(t, "GET", "/?level=2&group=redes&page=3", e.signIn(t, infra), nil).Body.String()
	if strings.Contains(p3, "caso 33") {
		t.Errorf("infra sees the case it worked on on page 3 of a one-case queue:\n%s", p3)
	}
	pi := e.do(t, "GET", "/?level=2", e.signIn(t, infra), nil).Body.String()
	order(t, pi, []ticket.ID{id(33)})
	if !strings.Contains(pi, `<span class="count">1</span>`) {
		t.Errorf("infra's level-2 queue is not counted as its one case:\n%s", pi)
	}
}
