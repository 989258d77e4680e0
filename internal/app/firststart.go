package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
)

// FirstStartReport says what `ticketd check` learnt of the first start.
type FirstStartReport struct {
	// Pending is true when the store has no checkpoint for the mailbox:
	// the next start is a first start.
	Pending bool
	// Take and Total are how many mails the first start would take by
	// imap.first_start, and how many the mailbox holds (only when Pending).
	Take, Total int
	// Checkpoint is the store's checkpoint when not Pending.
	Checkpoint record.Checkpoint
}

// FirstStart reads the store's checkpoint for the configured mailbox and,
// when there is none, asks p how many mails a first start would take. A
// store held by a running daemon is an error that says so.
func FirstStart(ctx context.Context, cfg config.Config, p *mailbox.Poller) (FirstStartReport, error) {
	var rep FirstStartReport
	path := storePath(cfg)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		rep.Pending = true
	} else {
		db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
		if err != nil {
			return rep, fmt.Errorf("read the checkpoint in %s (is ticketd running? then it has started before): %w", path, err)
		}
		err = db.View(ctx, func(tx *store.Tx) error {
			var err error
			rep.Checkpoint, err = tx.Checkpoint(cfg.IMAP.Mailbox)
			return err
		})
		db.Close()
		if err != nil {
			return rep, fmt.Errorf("read the checkpoint in %s: %w", path, err)
		}
		rep.Pending = rep.Checkpoint == (record.Checkpoint{})
	}
	if !rep.Pending {
		return rep, nil
	}
	var err error
	rep.Take, rep.Total, err = p.FirstStartCount(ctx)
	return rep, err
}
