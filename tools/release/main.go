// Command release builds ticketd's release artefacts under an output folder
// (dist/ for `make release`): a static binary for each of linux/amd64 and
// linux/arm64, a .deb for each made with nFPM (the binary, the systemd unit,
// the sysusers.d and tmpfiles.d entries that make the ticketd user and
// /var/lib/ticketd, the example configuration as a conffile, the docs and
// maintainer scripts from deploy/), and SHA256SUMS over all of them.
//
// It is its own Go module so that the packaging library and its
// dependencies stay out of the daemon's go.mod.
//
//	go -C tools/release run . -root ../.. -version "$(git describe --tags --always --dirty)" -out ../../dist
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", "../..", "the ticketd repository")
	out := flag.String("out", "", "where the artefacts go (default <root>/dist)")
	version := flag.String("version", "", "the version, as `git describe --tags --always --dirty` prints it (default: asked from git)")
	flag.Parse()
	if err := run(*root, *out, *version); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(root, out, version string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(root, "dist")
	}
	if version == "" {
		if version, err = describe(root); err != nil {
			return err
		}
	}
	v, err := ParseVersion(version)
	if err != nil {
		return err
	}
	mtime, err := commitTime(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("make the output folder: %w", err)
	}
	// Only this version's artefacts, so that SHA256SUMS covers the folder.
	old, _ := filepath.Glob(filepath.Join(out, "ticketd_*"))
	for _, p := range append(old, filepath.Join(out, "SHA256SUMS")) {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove the previous artefacts: %w", err)
		}
	}
	var made []string
	for _, arch := range Arches {
		bin, err := BuildBinary(root, out, v, arch)
		if err != nil {
			return err
		}
		deb, err := BuildDeb(root, out, v, arch, bin, mtime)
		if err != nil {
			return err
		}
		slog.Info("built", "binary", filepath.Base(bin), "deb", filepath.Base(deb))
		made = append(made, bin, deb)
	}
	sums, err := WriteChecksums(out, made)
	if err != nil {
		return err
	}
	slog.Info("checksums", "file", sums, "version", v.Package)
	return nil
}
