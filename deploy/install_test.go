//go:build release

package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/demo"
	"github.com/ticketd/ticketd/internal/devmail"
)

// baseTarball caches the clean Debian system the package is installed into
// (debootstrap minbase bookworm, plus systemd for sysusers, tmpfiles and
// systemd-analyze, and procps, which the package depends on), so that
// reruns take seconds.
const baseTarball = "/var/cache/ticketd-release/bookworm-minbase-systemd-procps.tar"

// TestDebInstallsAndRuns installs dist/'s amd64 .deb into a clean Debian
// chroot with dpkg, checks what it made (the ticketd user, /var/lib/ticketd,
// the conffile, the unit), then starts the installed binary as the ticketd
// user against a mail system on loopback and waits for the acknowledgement
// of a mail. Root only (make release-test).
func TestDebInstallsAndRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the install test makes a chroot: run it as root (make release-test)")
	}
	debs, _ := filepath.Glob("../dist/ticketd_*_amd64.deb")
	if len(debs) != 1 {
		t.Fatalf("want one dist/ticketd_*_amd64.deb (make release), found %v", debs)
	}
	root := t.TempDir()
	makeBase(t, root)
	pkg := filepath.Join(root, "tmp", filepath.Base(debs[0]))
	copyFile(t, debs[0], pkg)
	out := inChroot(t, root, "", "dpkg", "-i", "/tmp/"+filepath.Base(pkg))
	t.Logf("dpkg -i:\n%s", out)
	if !strings.Contains(out, "ticketd is installed but not started") {
		t.Errorf("the install does not say the service is not started")
	}

	// The user and its state directory.
	pw := strings.Split(strings.TrimSpace(inChroot(t, root, "", "getent", "passwd", "ticketd")), ":")
	if len(pw) != 7 || pw[5] != "/var/lib/ticketd" || pw[6] != "/usr/sbin/nologin" {
		t.Fatalf("ticketd user: %v", pw)
	}
	uid, _ := strconv.Atoi(pw[2])
	gid, _ := strconv.Atoi(pw[3])
	if uid == 0 || uid >= 1000 {
		t.Errorf("ticketd uid %d is not a system user's", uid)
	}
	user := fmt.Sprintf("%d:%d", uid, gid)
	checkOwner(t, root, "/var/lib/ticketd", 0o750, uid, gid)
	checkOwner(t, root, "/etc/ticketd", 0o750, 0, gid)
	checkOwner(t, root, "/etc/ticketd/config.yaml", 0o640, 0, gid)
	checkOwner(t, root, "/usr/bin/ticketd", 0o755, 0, 0)
	if got := inChroot(t, root, "", "dpkg-query", "--showformat=${Conffiles}", "--show", "ticketd"); !strings.Contains(got, "/etc/ticketd/config.yaml ") {
		t.Errorf("conffiles: %q", got)
	}
	// The unit as systemd reads it (no systemd runs in the chroot: verify
	// loads and checks it, and that its ExecStart binary exists).
	t.Logf("systemd-analyze verify: %s", inChroot(t, root, "", "systemd-analyze", "verify", "/lib/systemd/system/ticketd.service"))
	if v := inChroot(t, root, "", "/usr/bin/ticketd", "version"); !regexp.MustCompile(`^ticketd \S+\n$`).MatchString(v) || strings.Contains(v, "dev") {
		t.Errorf("ticketd version = %q, want the stamped version", v)
	}

	// A mail system on loopback (the chroot shares the network) and the
	// configuration an operator writes: the password in its own file.
	ms, err := devmail.Start(devmail.Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", Domain: demo.Domain,
		Users: []string{demo.Desk.Addr, demo.Requester.Addr, demo.Agent.Addr, demo.Network.Addr, demo.OnSite.Addr, demo.Provider.Addr}, Password: demo.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	adminAddr, err := demo.FreeAddr("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := demo.DaemonConfig(t.TempDir(), ms.IMAPAddr(), ms.SMTPAddr(), adminAddr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = "/var/lib/ticketd"
	if err := demo.WriteConfig(cfg); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.File)
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(b), fmt.Sprintf("  password: %q\n", demo.Password), "  password_file: /etc/ticketd/imap.password\n", 1)
	writeOwned(t, root, "/etc/ticketd/config.yaml", conf, 0o640, 0, gid)
	writeOwned(t, root, "/etc/ticketd/imap.password", demo.Password+"\n", 0o600, uid, gid)

	t.Logf("ticketd check:\n%s", inChroot(t, root, user, "/usr/bin/ticketd", "check", "--config", "/etc/ticketd/config.yaml"))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log bytes.Buffer
	run := exec.Command("chroot", "--userspec="+user, root, "/usr/bin/ticketd", "run", "--config", "/etc/ticketd/config.yaml")
	run.Stdout, run.Stderr = &log, &log
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	defer func() {
		if run.ProcessState == nil {
			_ = run.Process.Kill()
			<-done
		}
	}()

	msg := "From: " + demo.Requester.String() + "\r\nTo: " + demo.Desk.Addr + "\r\nSubject: La impresora no imprime\r\n" +
		"Message-ID: <install-test@demo.test>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nNo imprime desde ayer.\r\n"
	if err := smtp.SendMail(ms.SMTPAddr(), nil, demo.Requester.Addr, []string{demo.Desk.Addr}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	ack := regexp.MustCompile(`\[OTI-\d{4}-\d{6}\]`)
	for from := 0; ; {
		ds, n, changed := ms.Deliveries(from)
		for _, d := range ds {
			if len(d.To) == 1 && d.To[0] == demo.Requester.Addr && ack.Match(d.Raw) {
				t.Logf("acknowledgement to the requester: %s", ack.Find(d.Raw))
				goto acked
			}
		}
		from = n
		select {
		case <-changed:
		case err := <-done:
			t.Fatalf("ticketd run ended before acknowledging the mail: %v\n%s", err, log.String())
		case <-ctx.Done():
			t.Fatalf("no acknowledgement within 60s; ticketd's log:\n%s", log.String())
		}
	}
acked:
	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ticketd run after SIGTERM: %v\n%s", err, log.String())
		}
	case <-ctx.Done():
		t.Fatalf("ticketd run did not stop on SIGTERM:\n%s", log.String())
	}
	// What the daemon wrote is the ticketd user's, in its state directory.
	entries, err := os.ReadDir(filepath.Join(root, "var/lib/ticketd"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("/var/lib/ticketd after a run: %v %v", entries, err)
	}
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(root, "var/lib/ticketd", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
			t.Errorf("/var/lib/ticketd/%s is owned by uid %d, not ticketd", e.Name(), st.Uid)
		}
	}
	t.Logf("/var/lib/ticketd holds %d entries, all the ticketd user's", len(entries))
}

// makeBase lays a clean Debian system at root, from the cached tarball,
// made first with debootstrap when there is none.
func makeBase(t *testing.T, root string) {
	t.Helper()
	if _, err := os.Stat(baseTarball); err != nil {
		build := t.TempDir()
		cmd := exec.Command("debootstrap", "--variant=minbase", "--include=systemd,procps", "bookworm", build, "http://deb.debian.org/debian")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("debootstrap (apt-get install debootstrap): %v\n%s", err, out)
		}
		if err := os.MkdirAll(filepath.Dir(baseTarball), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("tar", "-C", build, "-cf", baseTarball+".part", ".").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v\n%s", err, out)
		}
		if err := os.Rename(baseTarball+".part", baseTarball); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("tar", "-C", root, "-xf", baseTarball).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
}

// inChroot runs a command in the chroot (as user "uid:gid" when not "")
// and returns its output, failing the test when it fails.
func inChroot(t *testing.T, root, user string, args ...string) string {
	t.Helper()
	a := []string{root}
	if user != "" {
		a = []string{"--userspec=" + user, root}
	}
	cmd := exec.Command("chroot", append(a, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func checkOwner(t *testing.T, root, path string, mode os.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(root, path))
	if err != nil {
		t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: %v %d:%d, want %v %d:%d", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
	}
}

func writeOwned(t *testing.T, root, path, body string, mode os.FileMode, uid, gid int) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
