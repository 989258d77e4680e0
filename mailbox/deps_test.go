package mailbox

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingInternal keeps the intake one way: the mailbox and its
// parser hand their results out through their own types and interfaces and
// import nothing of the daemon's internals.
func TestImportsNothingInternal(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to list imports: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), gobin, "list", "-deps", "-f", "{{.ImportPath}}", "github.com/ticketd/ticketd/mailbox/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "github.com/ticketd/ticketd/internal/") {
			t.Errorf("mailbox/... depends on %s", dep)
		}
	}
}
