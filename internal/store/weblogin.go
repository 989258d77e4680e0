package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/internal/record"
)

// loginKeep is how long a login link's record stays after it expired: a
// reused link is still told apart from an unknown one for a day.
const loginKeep = 24 * time.Hour

// PutLoginLink records (or updates) a login link of the web console by
// its hash, and deletes the records of links expired for over a day, so
// that the bucket holds only the links of the last day.
func (t *Tx) PutLoginLink(l record.LoginLink) error {
	b := t.tx.Bucket(bucketWebLogin)
	var stale [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var old record.LoginLink
		if err := json.Unmarshal(v, &old); err != nil || old.Expires.Add(loginKeep).Before(l.Created) {
			stale = append(stale, append([]byte(nil), k...)) // unreadable or long expired
		}
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("delete expired login link: %w", err)
		}
	}
	if err := putJSON(b, []byte(l.Hash), l); err != nil {
		return fmt.Errorf("record login link: %w", err)
	}
	return nil
}

// LoginLink returns the login link of hash; the error wraps
// [record.ErrNotFound] when there is none.
func (t *Tx) LoginLink(hash string) (record.LoginLink, error) {
	var l record.LoginLink
	if err := getJSON(t.tx.Bucket(bucketWebLogin), []byte(hash), &l); err != nil {
		return l, fmt.Errorf("login link: %w", err)
	}
	return l, nil
}
