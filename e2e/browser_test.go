//go:build e2e

package e2e

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// artifactsDir holds what the browser tests leave behind to look at:
// screenshots at phone and desktop widths (e2e/artifacts, kept out of git).
const artifactsDir = "artifacts"

// A viewport the browser tests look through.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var (
	phone   = viewport{"phone", 390, 844, true}
	desktop = viewport{"desktop", 1366, 900, false}
)

// browserWait bounds one browser step (load, wait for an element, read).
const browserWait = 30 * time.Second

// browser is one headless Chromium (Debian's chromium, which stack.sh
// installs) with a fresh profile, for one test; it is stopped when the
// test ends.
type browser struct {
	t   testing.TB
	ctx context.Context
}

// newBrowser starts Chromium. The flags keep it from reaching out to the
// network on its own (this network refuses it, and a test must not depend
// on it): no background networking, component updates, sync or QUIC.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (stack.sh install puts it in): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(desktop.width), int(desktop.height)),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() }) // stops the Chromium it started
	// The first run starts the browser, which lives as long as the context
	// of that run: it must be ctx itself, without a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// run does actions within browserWait, failing the test with what.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := b.try(actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// try does actions within browserWait and returns their error.
func (b *browser) try(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// value runs a within browserWait and returns its value, failing the test
// with what.
func value[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// view sets the viewport: a phone's (mobile, touch) or a desktop's.
func (b *browser) view(v viewport) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	b.run("viewport "+v.name, chromedp.EmulateViewport(v.width, v.height, opts...))
}

// screenshot saves the whole page at viewport v as
// artifacts/<test>-<name>-<phone|desktop>.png and returns its path.
func (b *browser) screenshot(name string, v viewport) string {
	b.t.Helper()
	b.view(v)
	png := value(b, "screenshot "+name, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	test := strings.NewReplacer("/", "-", " ", "_").Replace(b.t.Name())
	path := filepath.Join(artifactsDir, test+"-"+name+"-"+v.name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d bytes)", path, len(png))
	return path
}

// link is an anchor of a page: what it says and where it goes.
type link struct {
	Text  string `json:"text"`
	Href  string `json:"href"`
	Title string `json:"title"`
}

// links returns the anchors of the page matching the CSS selector sel,
// waiting until at least one is visible.
func (b *browser) links(sel string) []link {
	b.t.Helper()
	b.run("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return value(b, "links "+sel, chromedp.Evaluate[[]link](`Array.from(document.querySelectorAll(`+jsString(sel)+`)).map(a => ({text: a.textContent.trim(), href: a.getAttribute("href"), title: a.title}))`))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// mailto is a mailto: URL taken apart (RFC 6068).
type mailto struct {
	To, Subject, InReplyTo, Body string
}

// parseMailto decodes href strictly: a literal "+" (which a form decoder
// would read as a space) or a byte RFC 6068 wants encoded fails the test.
func parseMailto(t testing.TB, href string) mailto {
	t.Helper()
	rest, ok := strings.CutPrefix(href, "mailto:")
	if !ok {
		t.Fatalf("%q is no mailto: URL", href)
	}
	if i := strings.IndexFunc(rest, func(r rune) bool { return r == '+' || r == ' ' || r > '~' }); i >= 0 {
		t.Fatalf("%q: %q at %d is not percent-encoded", href, rest[i], i)
	}
	to, raw, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("%q: %v", href, err)
	}
	addr, err := url.PathUnescape(to)
	if err != nil {
		t.Fatalf("%q: %v", href, err)
	}
	return mailto{To: addr, Subject: q.Get("subject"), InReplyTo: q.Get("In-Reply-To"), Body: q.Get("body")}
}

// send mails what a mail program opened from m would send, from from,
// with text typed after the prefilled command.
func (m mailto) send(t testing.TB, from, text string) *outMail {
	t.Helper()
	body := m.Body
	if text != "" {
		body = strings.TrimRight(body, " ") + " " + text
	}
	out := &outMail{From: from, To: m.To, Subject: m.Subject, InReplyTo: m.InReplyTo, References: m.InReplyTo, Text: body}
	stk.send(t, out)
	return out
}

// openHTML shows the HTML part of a received mail in the browser, as a
// mail program would (from a file: the page loads nothing else).
func (b *browser) openHTML(m gotMail) {
	b.t.Helper()
	if m.HTML == "" {
		b.t.Fatalf("%s has no HTML part", m)
	}
	path := filepath.Join(b.t.TempDir(), "mail.html")
	writeFile(b.t, path, []byte(m.HTML), 0o644)
	b.run("open "+m.Subject, chromedp.Navigate("file://"+path), chromedp.WaitReady(chromedp.CSS("body")))
}
