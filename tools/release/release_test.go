package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blakesmith/ar"
	"github.com/ulikunitz/xz"
)

func TestParseVersion(t *testing.T) {
	for _, c := range []struct{ in, pkg string }{
		{"v0.1.0", "0.1.0"},
		{"0.1.0", "0.1.0"},
		{"v0.2.0-rc1", "0.2.0~rc1"},
		{"v0.1.0-3-g1a2b3c4", "0.1.0+3.g1a2b3c4"},
		{"v0.1.0-3-g1a2b3c4-dirty", "0.1.0+3.g1a2b3c4.dirty"},
		{"v0.1.0-dirty", "0.1.0+dirty"},
		{"v0.2.0-rc1-2-gabcdef0", "0.2.0~rc1+2.gabcdef0"},
		{"558da5d", "0.0.0~g558da5d"},
		{"558da5d-dirty", "0.0.0~g558da5d+dirty"},
	} {
		v, err := ParseVersion(c.in)
		if err != nil || v.Package != c.pkg || v.Describe != c.in {
			t.Errorf("ParseVersion(%q) = %+v, %v; want package %q", c.in, v, err, c.pkg)
		}
	}
	for _, bad := range []string{"", "dev", "release-1", "v1.2", "v1.2.3-3-gzzzz"} {
		if v, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want an error", bad, v)
		}
	}
}

// TestDebContents packages a stand-in binary with the repository's deploy
// files and reads the .deb back: every file with its owner and mode, the
// conffile, the control fields and the maintainer scripts.
func TestDebContents(t *testing.T) {
	out := t.TempDir()
	bin := filepath.Join(out, "ticketd")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := ParseVersion("v1.2.3-4-gabcdef0")
	if err != nil {
		t.Fatal(err)
	}
	path, err := BuildDeb("../..", out, v, "arm64", bin, time.Unix(1764547200, 0))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "ticketd_1.2.3+4.gabcdef0_arm64.deb" {
		t.Errorf("package file %s", path)
	}
	members := readAr(t, path)
	data := readTar(t, xzReader(t, members["data.tar.xz"]))
	want := map[string]string{ // path: mode owner:group
		"./usr/bin/ticketd":                                    "0755 root:root",
		"./lib/systemd/system/ticketd.service":                 "0644 root:root",
		"./usr/lib/sysusers.d/ticketd.conf":                    "0644 root:root",
		"./usr/lib/tmpfiles.d/ticketd.conf":                    "0644 root:root",
		"./etc/ticketd/":                                       "0750 root:ticketd",
		"./etc/ticketd/config.yaml":                            "0640 root:ticketd",
		"./usr/share/doc/ticketd/README.md":                    "0644 root:root",
		"./usr/share/doc/ticketd/CHANGELOG.md":                 "0644 root:root",
		"./usr/share/doc/ticketd/copyright":                    "0644 root:root",
		"./usr/share/doc/ticketd/examples/config.example.yaml": "0644 root:root",
	}
	for name, w := range want {
		f, ok := data[name]
		if !ok {
			t.Errorf("%s missing from the package", name)
			continue
		}
		if got := f.mode; got != w {
			t.Errorf("%s: %s, want %s", name, got, w)
		}
	}
	if !strings.Contains(string(data["./usr/lib/sysusers.d/ticketd.conf"].body), "\nu ticketd ") {
		t.Errorf("sysusers entry: %s", data["./usr/lib/sysusers.d/ticketd.conf"].body)
	}
	if !strings.Contains(string(data["./usr/lib/tmpfiles.d/ticketd.conf"].body), "\nd /var/lib/ticketd 0750 ticketd ticketd") {
		t.Errorf("tmpfiles entry: %s", data["./usr/lib/tmpfiles.d/ticketd.conf"].body)
	}
	if !strings.Contains(string(data["./lib/systemd/system/ticketd.service"].body), "\nExecStart=/usr/bin/ticketd run ") {
		t.Errorf("the unit does not start /usr/bin/ticketd")
	}
	cr := string(data["./usr/share/doc/ticketd/copyright"].body)
	if !strings.Contains(cr, "Files: linked from the Go module go.etcd.io/bbolt ") {
		t.Errorf("copyright lacks the licences of the modules linked in:\n%.500s", cr)
	}

	ctl := readTar(t, gzipReader(t, members["control.tar.gz"]))
	if got := string(ctl["./conffiles"].body); got != "/etc/ticketd/config.yaml\n" {
		t.Errorf("conffiles = %q", got)
	}
	control := string(ctl["./control"].body)
	for _, f := range []string{"Package: ticketd\n", "Version: 1.2.3+4.gabcdef0\n", "Architecture: arm64\n", "Section: mail\n", "Depends: procps\n"} {
		if !strings.Contains(control, f) {
			t.Errorf("control lacks %q:\n%s", f, control)
		}
	}
	for _, s := range []string{"./preinst", "./postinst", "./prerm", "./postrm"} {
		if f, ok := ctl[s]; !ok || !strings.HasPrefix(f.mode, "0755 ") {
			t.Errorf("maintainer script %s: %+v", s, f.mode)
		}
	}
	post := string(ctl["./postinst"].body)
	for _, s := range []string{"systemd-sysusers ticketd.conf", "systemd-tmpfiles --create ticketd.conf", "systemctl daemon-reload", "not started"} {
		if !strings.Contains(post, s) {
			t.Errorf("postinst lacks %q", s)
		}
	}
	// The message it prints (a here-document up to MSG) names the command.
	code, msg, _ := strings.Cut(post, "<<'MSG'")
	_, rest, _ := strings.Cut(msg, "\nMSG\n")
	if !strings.Contains(msg, "systemctl enable --now ticketd") {
		t.Errorf("postinst does not say how to start the service")
	}
	for _, line := range strings.Split(code+rest, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "systemctl enable") || strings.HasPrefix(l, "systemctl start") {
			t.Errorf("postinst starts the service before it is configured: %q", l)
		}
	}
}

type tarFile struct {
	mode string // "0644 owner:group"
	body []byte
}

func readAr(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]byte{}
	r := ar.NewReader(f)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return m
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		m[strings.TrimSuffix(h.Name, "/")] = b
	}
}

func xzReader(t *testing.T, b []byte) io.Reader {
	t.Helper()
	r, err := xz.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func gzipReader(t *testing.T, b []byte) io.Reader {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readTar(t *testing.T, r io.Reader) map[string]tarFile {
	t.Helper()
	m := map[string]tarFile{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return m
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		m[h.Name] = tarFile{mode: fmt.Sprintf("%04o %s:%s", h.Mode, h.Uname, h.Gname), body: b}
	}
}
