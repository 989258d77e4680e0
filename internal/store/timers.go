package store

import "fmt"

var keyTimersFingerprint = []byte("timers/sla_fingerprint")

// TimersFingerprint returns the fingerprint of the service-level policy
// the tickets' due times were last computed under; ok is false when none
// was ever recorded (a store from before timers were recomputed at start).
func (t *Tx) TimersFingerprint() (fp string, ok bool) {
	v := t.tx.Bucket(bucketMeta).Get(keyTimersFingerprint)
	return string(v), v != nil
}

// SetTimersFingerprint records that every open or resolved ticket's due
// time was computed under the policy of fingerprint fp.
func (t *Tx) SetTimersFingerprint(fp string) error {
	if err := t.tx.Bucket(bucketMeta).Put(keyTimersFingerprint, []byte(fp)); err != nil {
		return fmt.Errorf("record the timers' fingerprint: %w", err)
	}
	return nil
}
