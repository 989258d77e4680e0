package ticket

// Order says how a listing sorts the tickets of each queue.
type Order int

const (
	// ByCreation sorts oldest created first, then by ID.
	ByCreation Order = iota
	// BySince sorts longest at its current level first (the level since
	// time, the creation time for a ticket stored without one), then by
	// ID: the order of a desk's queues.
	BySince
)

// Page is which part of each queue a listing returns.
type Page struct {
	Order Order
	// Category, when set, selects the tickets of that category (in any
	// case).
	Category string
	// Offset tickets of each queue are skipped, then up to Limit returned;
	// a Limit below 1 returns only the counts.
	Offset, Limit int
}

// Queue is one queue of a listing: its tickets at one level in one group.
type Queue struct {
	Level Level
	Group string
	// Total counts the queue's tickets; Tickets is the page of them asked
	// for, as list rows (no body, thread or history).
	Total   int
	Tickets []Ticket
}

// Listing is a page of each queue of a listing, with the counts.
type Listing struct {
	// Queues are by level, then group.
	Queues []Queue
	// Total counts the tickets of every queue.
	Total int
	// Categories are those of the tickets the filter selects, whatever
	// the page's Category, sorted: what the listing can be narrowed to.
	Categories []string
}
