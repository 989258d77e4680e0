package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

// storeScale runs scenario 5: a store of n tickets, written directly
// with the store package (one in ten escalated to level 2 and left open,
// one in two resolved and closed), then timed: opening it, listing the
// open level-2 tickets, showing one ticket with its history; and once,
// opening a copy taken while it was open, as a crash leaves the file. The
// listing is timed as the console shows that queue (its first page of 50
// with the count) and as a whole (the admin API's, an export's).
func storeScale(ctx context.Context, dir string, n, runs int, figs *figures) error {
	path := filepath.Join(dir, "scale.db")
	dirc, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: ticket.Level1, Default: true, Members: []string{"mesa@oti.test"}},
		{Name: "redes", Level: ticket.Level2, Default: true, Members: []string{"redes@oti.test"}},
	})
	if err != nil {
		return err
	}
	desk, err := ticket.NewDesk(dirc)
	if err != nil {
		return err
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	trusted := ticket.Trusted("load")
	var some ticket.ID
	start := time.Now()
	const batch = 5000
	for done := 0; done < n; {
		err := db.Update(ctx, func(tx *store.Tx) error {
			for i := 0; i < batch && done < n; i, done = i+1, done+1 {
				now := t0.Add(time.Duration(done) * time.Second)
				id, err := tx.NextID("OTI", now)
				if err != nil {
					return err
				}
				o := desk.Open(id, ticket.Inbound{Sender: trusted, MessageID: fmt.Sprintf("scale-%d@load.test", done),
					From: ticket.Address{Addr: fmt.Sprintf("u%d@unidad.test", done%5000)}, Subject: "Impresora " + fmt.Sprint(done),
					Text: "Desde esta mañana la impresora del piso 3 no imprime."}, "", now)
				tk := o.Ticket
				switch {
				case done%10 == 0:
					tk = desk.Reply(tk, ticket.Inbound{Sender: trusted, MessageID: fmt.Sprintf("scale-%d-e@load.test", done),
						From: ticket.Address{Addr: "mesa@oti.test"}, Text: "#escalar nivel2 redes"}, now.Add(time.Minute)).Ticket
				case done%2 == 0:
					tk = desk.Reply(tk, ticket.Inbound{Sender: trusted, MessageID: fmt.Sprintf("scale-%d-r@load.test", done),
						From: ticket.Address{Addr: "mesa@oti.test"}, Text: "#resolver\n#cerrar"}, now.Add(time.Minute)).Ticket
				}
				if err := tx.PutTicket(tk); err != nil {
					return err
				}
				some = id
			}
			return nil
		})
		if err != nil {
			db.Close()
			return fmt.Errorf("generate store: %w", err)
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	logf("store of %d tickets written in %v", n, time.Since(start).Round(time.Second))
	open2 := ticket.Filter{State: ticket.StateOpen, Level: ticket.Level2}
	for range runs {
		t := time.Now()
		db, err := store.Open(path, store.Options{})
		if err != nil {
			return err
		}
		figs.add(fmt.Sprintf("store_open_%d", n), "ms", ms(time.Since(t)), "< 1000")
		// The console's queue: the first page of the open level-2
		// tickets, longest at the level first, with the queue's count.
		var listed, whole int
		t = time.Now()
		err = db.View(ctx, func(tx *store.Tx) error {
			l, err := tx.Queues(open2, ticket.Page{Order: ticket.BySince, Limit: 50})
			listed = l.Total
			return err
		})
		figs.add(fmt.Sprintf("store_list_open_level2_%d", n), "ms", ms(time.Since(t)), "< 100")
		if err == nil {
			// The whole list, as the admin API and an export read it.
			t = time.Now()
			err = db.View(ctx, func(tx *store.Tx) error {
				return tx.Each(open2, func(*ticket.Ticket) error { whole++; return nil })
			})
			figs.add(fmt.Sprintf("store_list_open_level2_whole_%d", n), "ms", ms(time.Since(t)), "")
		}
		if err == nil {
			t = time.Now()
			err = db.View(ctx, func(tx *store.Tx) error {
				if _, err := tx.Ticket(some); err != nil {
					return err
				}
				_, err := tx.History(some)
				return err
			})
			figs.add(fmt.Sprintf("store_show_one_%d", n), "ms", ms(time.Since(t)), "")
		}
		db.Close()
		if err != nil {
			return err
		}
		logf("store: %d open level-2 tickets counted, %d walked", listed, whole)
	}
	return openAfterCrash(path, n, figs)
}

// openAfterCrash times one open of the store as a crash leaves it: a copy
// of the file taken while the store was open, so without the clean-close
// mark, which Open then checks key by key.
func openAfterCrash(path string, n int, figs *figures) error {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	crashed := path + ".crashed"
	err = copyFile(path, crashed)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	defer os.Remove(crashed)
	t := time.Now()
	if db, err = store.Open(crashed, store.Options{}); err != nil {
		return err
	}
	figs.add(fmt.Sprintf("store_open_after_crash_%d", n), "ms", ms(time.Since(t)), "")
	return db.Close()
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }
