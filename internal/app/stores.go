package app

import (
	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/daemon"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/store"
)

// The one bbolt store as each of its consumers declares it: the service,
// the intake loop and the admin backend each name the transaction they
// need (service.Tx, daemon.Tx, admin.Tx), *store.Tx implements all of
// them, and these conversions are where the compiler checks it. The
// notification worker's notify.Outbox is implemented by store.Outbox.

func serviceStore(db *store.DB) service.Store {
	return store.Bind(db, func(tx *store.Tx) service.Tx { return tx })
}

func loopStore(db *store.DB) daemon.Store {
	return store.Bind(db, func(tx *store.Tx) daemon.Tx { return tx })
}

// AdminStore returns db as [admin.Local] reads it.
func AdminStore(db *store.DB) admin.Store {
	return store.Bind(db, func(tx *store.Tx) admin.Tx { return tx })
}
