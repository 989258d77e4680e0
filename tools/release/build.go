package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Arches are the Linux architectures released, in Go's (and Debian's)
// names.
var Arches = []string{"amd64", "arm64"}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// BuildBinary builds ticketd for linux/arch into out, static and stamped
// with v.Describe, and checks that the result is a static ELF binary for
// that machine.
func BuildBinary(root, out string, v Version, arch string) (string, error) {
	bin := filepath.Join(out, fmt.Sprintf("ticketd_%s_linux_%s", v.Package, arch))
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+v.Describe,
		"-o", bin, "./cmd/ticketd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build ticketd for linux/%s: %w", arch, err)
	}
	if err := CheckStatic(bin, arch); err != nil {
		return "", err
	}
	return bin, nil
}

// CheckStatic fails unless path is an ELF executable for arch that needs
// no dynamic loader and no shared library.
func CheckStatic(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	if want := elfMachine[arch]; f.Machine != want {
		return fmt.Errorf("%s is for %s, want %s", path, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it names a program interpreter)", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("read the libraries %s needs: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", path, libs)
	}
	return nil
}

// BuildDeb packages bin as ticketd_<version>_<arch>.deb in out.
func BuildDeb(root, out string, v Version, arch, bin string, mtime time.Time) (string, error) {
	tmp, err := os.MkdirTemp("", "ticketd-release.")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	copyright := filepath.Join(tmp, "copyright")
	if err := writeCopyright(root, arch, copyright); err != nil {
		return "", err
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "ticketd",
		Arch:          arch,
		Platform:      "linux",
		Version:       v.Package,
		VersionSchema: "none",
		Section:       "mail",
		Priority:      "optional",
		Maintainer:    "ticketd maintainers <ticketd@localhost>",
		Description: "email-driven service desk for the IT office's support procedure\n" +
			"ticketd turns every mail to the support address into a ticket, threads\n" +
			"replies into it, lets desk agents and specialists steer it with commands\n" +
			"in their mails, and tells the people concerned at every change of level.\n" +
			"Its state is one embedded bbolt file under /var/lib/ticketd.",
		MTime: mtime,
		Overridables: nfpm.Overridables{
			Contents: packageContents(root, bin, copyright),
			// The unit's ExecReload runs /bin/kill, which procps ships.
			Depends: []string{"procps"},
			Scripts: nfpm.Scripts{
				PreInstall:  filepath.Join(root, "deploy/deb/preinst"),
				PostInstall: filepath.Join(root, "deploy/deb/postinst"),
				PreRemove:   filepath.Join(root, "deploy/deb/prerm"),
				PostRemove:  filepath.Join(root, "deploy/deb/postrm"),
			},
			Deb: nfpm.Deb{Compression: "xz"},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("prepare the %s package: %w", arch, err)
	}
	path := filepath.Join(out, fmt.Sprintf("ticketd_%s_%s.deb", v.Package, arch))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("package %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// packageContents is every file the package installs and who owns it.
func packageContents(root, bin, copyright string) files.Contents {
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst,
			FileInfo: &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root"}}
	}
	repo := func(name string) string { return filepath.Join(root, name) }
	doc := "/usr/share/doc/ticketd/"
	return files.Contents{
		file(bin, "/usr/bin/ticketd", 0o755),
		file(repo("deploy/ticketd.service"), "/lib/systemd/system/ticketd.service", 0o644),
		file(repo("deploy/sysusers.conf"), "/usr/lib/sysusers.d/ticketd.conf", 0o644),
		file(repo("deploy/tmpfiles.conf"), "/usr/lib/tmpfiles.d/ticketd.conf", 0o644),
		// The configuration and the password files beside it: readable by
		// the ticketd group (the daemon and the operators in it), no one else.
		{Destination: "/etc/ticketd", Type: files.TypeDir,
			FileInfo: &files.ContentFileInfo{Mode: 0o750, Owner: "root", Group: "ticketd"}},
		{Source: repo("config.example.yaml"), Destination: "/etc/ticketd/config.yaml", Type: files.TypeConfig,
			FileInfo: &files.ContentFileInfo{Mode: 0o640, Owner: "root", Group: "ticketd"}},
		file(repo("README.md"), doc+"README.md", 0o644),
		file(repo("CHANGELOG.md"), doc+"CHANGELOG.md", 0o644),
		file(repo("config.example.yaml"), doc+"examples/config.example.yaml", 0o644),
		file(copyright, doc+"copyright", 0o644),
	}
}

// writeCopyright writes the package's copyright file: deploy/copyright, then
// the licence of every module linked into the linux/arch binary, since a
// static binary carries their code.
func writeCopyright(root, arch, path string) error {
	head, err := os.ReadFile(filepath.Join(root, "deploy/copyright"))
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "list", "-deps",
		"-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}", "./cmd/ticketd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("list the modules linked into ticketd: %w", err)
	}
	mods := map[string][2]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 {
			mods[f[0]+" "+f[1]] = [2]string{f[0], f[2]}
		}
	}
	keys := make([]string, 0, len(mods))
	for k := range mods {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.Write(head)
	for _, k := range keys {
		text, err := licenceText(mods[k][1])
		if err != nil {
			return fmt.Errorf("the licence of %s: %w", k, err)
		}
		fmt.Fprintf(&b, "\nFiles: linked from the Go module %s\nLicense: see below\n", k)
		for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			if strings.TrimSpace(line) == "" {
				line = "."
			}
			b.WriteString(" " + line + "\n")
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// licenceText is the text of the licence file at the top of a module.
func licenceText(dir string) (string, error) {
	for _, name := range []string{"LICENSE", "LICENSE.md", "LICENSE.txt", "COPYING", "LICENCE"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			return string(b), nil
		}
		if !os.IsNotExist(err) {
			return "", err
		}
	}
	return "", fmt.Errorf("no LICENSE file in %s", dir)
}

// WriteChecksums writes SHA256SUMS in out for paths, in the format
// `sha256sum -c` reads.
func WriteChecksums(out string, paths []string) (string, error) {
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("read %s: %w", p, err)
		}
		fmt.Fprintf(&b, "%x  %s\n", h.Sum(nil), filepath.Base(p))
	}
	sums := filepath.Join(out, "SHA256SUMS")
	return sums, os.WriteFile(sums, []byte(b.String()), 0o644)
}
