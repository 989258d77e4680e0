// Package deploy holds no code: its tests check the files operators deploy
// ticketd with (the Dockerfile here; with -tags release, the .deb that
// `make release` built, installed into a clean Debian chroot).
package deploy

import (
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string   // upper case: FROM, RUN, COPY, …
	args []string // split at blanks
	line string
}

// stage is one FROM … up to the next FROM.
type stage struct {
	name string
	ins  []instruction
}

func parseDockerfile(t *testing.T, file string) []stage {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur string
	flush := func() {
		line := strings.TrimSpace(cur)
		cur = ""
		if line == "" {
			return
		}
		f := strings.Fields(line)
		in := instruction{cmd: strings.ToUpper(f[0]), args: f[1:], line: line}
		if in.cmd == "FROM" {
			st := stage{}
			if len(f) == 4 && strings.EqualFold(f[2], "AS") {
				st.name = f[3]
			}
			stages = append(stages, st)
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %q before the first FROM", file, line)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " \t"), `\`); ok {
			cur += s + " "
			continue
		}
		cur += l
		flush()
	}
	flush()
	return stages
}

// TestDockerfileStateDirOwnedByUser checks that the image runs as a
// non-root user and holds its data directory, owned by that user, before it
// is declared a volume: Docker fills a new named volume from the image's
// directory, owner included, so the daemon can write to it. Without the
// directory in the image a new volume is root's and ticketd cannot open its
// store. No Docker engine runs here, so this reads the Dockerfile as Docker
// would rather than building it.
func TestDockerfileStateDirOwnedByUser(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	final := stages[len(stages)-1]
	var user, dataDir string
	var volumes []string
	for _, in := range final.ins {
		switch in.cmd {
		case "USER":
			user = in.args[0]
		case "VOLUME":
			for _, a := range in.args {
				volumes = append(volumes, strings.Trim(a, `[]",`))
			}
		case "ENV":
			for _, a := range in.args {
				if v, ok := strings.CutPrefix(a, "TICKETD_DATA_DIR="); ok {
					dataDir = v
				}
			}
		}
	}
	uid, gid, ok := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 || !ok {
		t.Fatalf("USER %q: want a numeric non-root uid:gid (Kubernetes' runAsNonRoot needs a number)", user)
	}
	if _, err := strconv.Atoi(gid); err != nil {
		t.Fatalf("USER %q: the group is not numeric", user)
	}
	if dataDir == "" || !contains(volumes, dataDir) {
		t.Fatalf("TICKETD_DATA_DIR %q is not among the volumes %v", dataDir, volumes)
	}

	// The COPY that puts the data directory in the image, with the user
	// as owner, before VOLUME (later changes to a volume's path are lost).
	var made bool
	for _, in := range final.ins {
		if in.cmd == "VOLUME" {
			break
		}
		if in.cmd != "COPY" {
			continue
		}
		var from, chown string
		var paths []string
		for _, a := range in.args {
			switch {
			case strings.HasPrefix(a, "--from="):
				from = strings.TrimPrefix(a, "--from=")
			case strings.HasPrefix(a, "--chown="):
				chown = strings.TrimPrefix(a, "--chown=")
			default:
				paths = append(paths, a)
			}
		}
		if len(paths) != 2 || !strings.HasSuffix(paths[1], "/") || !strings.HasPrefix(dataDir, paths[1]) {
			continue
		}
		if chown != user {
			t.Fatalf("%q: the data directory is copied owned by %q, the image runs as %q", in.line, chown, user)
		}
		src := path.Join(paths[0], strings.TrimPrefix(dataDir, paths[1]))
		if !stageMakesDir(stages, from, src) {
			t.Fatalf("%q: stage %q does not make %s with mode 0750 (mkdir -p -m 0750)", in.line, from, src)
		}
		made = true
	}
	if !made {
		t.Fatalf("the final stage has no COPY --chown=%s that makes %s before VOLUME: a new volume would be root's", user, dataDir)
	}
}

// stageMakesDir reports whether the named stage runs mkdir -p -m 0750 dir.
func stageMakesDir(stages []stage, name, dir string) bool {
	for _, st := range stages {
		if st.name != name {
			continue
		}
		for _, in := range st.ins {
			a := strings.Join(in.args, " ")
			if in.cmd == "RUN" && strings.Contains(a, "mkdir -p -m 0750 ") && contains(in.args, dir) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
