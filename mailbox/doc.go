// Package mailbox turns one IMAP mailbox (RFC 9051, RFC 3501) into a stream
// of new messages for the ticket daemon.
//
// A [Poller] connects with implicit TLS, STARTTLS or (to loopback only)
// plain TCP, authenticates with LOGIN/PLAIN, XOAUTH2 or OAUTHBEARER
// (RFC 7628), selects the mailbox and hands every message whose UID is above
// the caller's [Checkpoint] to a [Handler], in UID order, as a raw RFC 5322
// byte stream. The messages already in the mailbox when it is first followed
// (no checkpoint yet, or a new UIDVALIDITY) are taken by a [FirstStart] rule
// (by default the unseen ones); the rule and the highest UID it covers are
// saved in the checkpoint before any message is handed over, so a first
// start cut short goes on after a restart with the same choice, and the mail
// it skipped is never taken nor touched. A [BatchHandler] ([Poller.RunBatch])
// stages the messages one by one and commits them together: the poller asks
// for the commit as soon as no further message is waiting, so a lone
// message is committed at once and a backlog by batches of up to
// [MaxBatch]. After the handler has committed a message the poller flags it
// \Seen and, optionally, moves it to a "processed" mailbox (RFC 6851 MOVE, or
// COPY + UID EXPUNGE with UIDPLUS, RFC 4315). It waits for new mail with IDLE
// (RFC 2177) when the server offers it and polls otherwise.
//
// The package keeps no durable state: the checkpoint lives in the caller's
// store and is committed together with whatever a message causes, so a crash
// at any point loses nothing and at worst hands a message over twice (the
// caller deduplicates by Message-ID). It does not decode MIME: the caller
// gets the message bytes as the server stores them.
package mailbox
