// Package ticket is the domain of ticketd: tickets, their tamper-evident
// history, the support procedure of the OTI service desk as a set of rules,
// the parser of the commands desk agents and specialists write in their
// mails, and the decision of who must be told what after every change.
//
// The package does no I/O and imports only the standard library. Callers
// (the daemon, the command line) look tickets up in the store, hand them to a
// [Desk] together with an [Inbound] mail, and persist what comes back: the
// changed [Ticket] with its new [Entry] values and the [Notice] values owed.
//
// The procedure is the one of PROCEDURE.md: a ticket opens at level 1 with the
// service desk ("Mesa de servicios"), may be escalated to level 2 or straight
// to level 3, and from level 2 to level 3; any level may resolve it; only the
// desk closes it definitively; a resolved ticket that is reopened returns to
// level 1 and the desk, never to the level that solved it.
//
// The procedure's vocabulary is data. One table of commands (command.go)
// gives each command its spellings and syntax in Spanish and English, its
// argument parser, who may use it and what it does; the parser, the
// permission check, help mails and receipts are derived from it. One table
// of states ([States]) gives their labels and whether they are final or
// queued at a level; one of notice kinds ([NoticeKinds]) lists what package
// notify has templates for. Adding a command, a state or a notice is one
// entry (plus, for a notice, its templates).
//
// The domain never reads the clock: every entry point takes now. Mail comes
// in through [Desk.Open] and [Desk.Reply]; the passing of time through
// [Desk.Tick], whose [Outcome] is persisted the same way. A ticket records
// when it began its current level visit and state ([Ticket.Since]), what
// timers count from.
//
// Trust is decided at the edge and handed in on [Inbound.Sender]: commands
// that change a ticket apply only from a verified sender; only who
// [Desk.TakesPart] in a ticket hears about it; and relays between the
// requester and the holder have an hourly budget and a loop guard
// ([WithRelayLimit]).
package ticket
