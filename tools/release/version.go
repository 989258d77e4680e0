package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Version is one release's version in its two spellings.
type Version struct {
	// Describe is what `git describe --tags --always --dirty` printed
	// ("v0.1.0", "v0.1.0-3-g1a2b3c4-dirty"): `ticketd version` prints it.
	Describe string
	// Package is the Debian version, which also names the files:
	// "0.1.0", "0.2.0~rc1" (before 0.2.0), "0.1.0+3.g1a2b3c4" (3 commits
	// after v0.1.0, before the next tag), "0.0.0~g1a2b3c4" (no tag yet,
	// before every tagged version), with "+dirty" or ".dirty" for a work
	// tree with uncommitted changes.
	Package string
}

var (
	tagRe      = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+)(?:-([0-9A-Za-z.]+))?$`)
	describeRe = regexp.MustCompile(`^(.+)-([0-9]+)-g([0-9a-f]{4,40})$`)
	hashRe     = regexp.MustCompile(`^[0-9a-f]{4,40}$`)
)

// ParseVersion reads a version as git describe prints it: a tag vX.Y.Z (or
// vX.Y.Z-pre), optionally followed by -N-gHASH, or a bare commit hash when
// no tag is reachable; each with an optional -dirty.
func ParseVersion(describe string) (Version, error) {
	s := strings.TrimSpace(describe)
	v := Version{Describe: s}
	s, dirty := strings.CutSuffix(s, "-dirty")
	var pkg string
	switch m := describeRe.FindStringSubmatch(s); {
	case hashRe.MatchString(s):
		pkg = "0.0.0~g" + s
	case m != nil:
		base, err := tagVersion(m[1])
		if err != nil {
			return v, fmt.Errorf("version %q: %w", describe, err)
		}
		pkg = base + "+" + m[2] + ".g" + m[3]
	default:
		base, err := tagVersion(s)
		if err != nil {
			return v, fmt.Errorf("version %q: %w", describe, err)
		}
		pkg = base
	}
	if dirty {
		if strings.Contains(pkg, "+") {
			pkg += ".dirty"
		} else {
			pkg += "+dirty"
		}
	}
	v.Package = pkg
	return v, nil
}

// tagVersion turns a release tag into its Debian version; a pre-release
// sorts before its release ("~").
func tagVersion(tag string) (string, error) {
	m := tagRe.FindStringSubmatch(tag)
	if m == nil {
		return "", fmt.Errorf("tag %q is not vMAJOR.MINOR.PATCH[-PRERELEASE]", tag)
	}
	if m[2] != "" {
		return m[1] + "~" + m[2], nil
	}
	return m[1], nil
}

// describe asks git for the version of the work tree at root.
func describe(root string) (string, error) {
	out, err := gitOutput(root, "describe", "--tags", "--always", "--dirty")
	if err != nil {
		return "", fmt.Errorf("ask git for the version: %w", err)
	}
	return out, nil
}

// commitTime is the time every packaged file carries, so that two builds of
// one commit make the same packages: $SOURCE_DATE_EPOCH when set, else the
// time of the commit checked out.
func commitTime(root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = gitOutput(root, "log", "-1", "--format=%ct"); err != nil {
			return time.Time{}, fmt.Errorf("ask git for the commit time: %w", err)
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("commit time %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
