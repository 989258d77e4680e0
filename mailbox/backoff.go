package mailbox

import (
	"math/rand/v2"
	"time"
)

// backoff yields jittered exponential delays between min and max. The zero
// value is not usable; it is not safe for concurrent use.
type backoff struct {
	min, max time.Duration
	attempt  int
}

// next returns the delay before the next attempt: min·2ⁿ capped at max, then
// scaled by a random factor in [0.5, 1) so that many clients restarted
// together do not reconnect in lockstep.
func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.attempt++
	return d/2 + rand.N(d/2+1)
}

// reset starts again from min after a success.
func (b *backoff) reset() { b.attempt = 0 }
