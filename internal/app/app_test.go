package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenSweepsUnfinishedBlobs: the temporary blob file a crash in the
// middle of a batch left behind is removed when ticketd next opens its data;
// without the sweep such files would pile up crash after crash.
func TestOpenSweepsUnfinishedBlobs(t *testing.T) {
	cfg := testConfig(t, startMail(t), freeAddr(t))
	dir := filepath.Join(cfg.DataDir, "blobs")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, ".tmp-123456")
	if err := os.WriteFile(left, []byte("half a mail"), 0o640); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(left, old, old); err != nil {
		t.Fatal(err)
	}
	c, err := Open(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer c.DB.Close()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("the unfinished write is still there: %v", err)
	}
}
