// Package notify renders the notifications the support procedure owes
// ([ticket.Pending]) as mail and delivers them over SMTP.
//
// It has three parts:
//
//   - [Renderer] turns a notice into a complete message (RFC 5322, MIME per
//     RFC 2045–2047): a plain-text part from a text/template and an HTML
//     alternative from an html/template, one pair per [ticket.NoticeKind],
//     embedded in Spanish and English and replaceable file by file. It sets
//     the threading headers (Message-ID, In-Reply-To, References), marks the
//     mail as automatic (RFC 3834 Auto-Submitted), re-attaches the
//     request's files to assignment mails and gives assignment and
//     new-ticket mails one-tap action links in HTML (package ticket/action).
//   - [Sender] submits messages to one SMTP server (RFC 5321, STARTTLS per
//     RFC 3207, implicit TLS per RFC 8314) over a few reused connections and
//     sorts failures into permanent ([ErrPermanent]) and temporary ones.
//   - [Worker] drains the outbox: it asks an [Outbox] for what is due,
//     reads each notice's ticket as it is now and rebuilds from it the
//     ticket as it stood when the notice was owed ([ticket.Owed.Rebuild]),
//     renders, sends, and records each outcome, retrying temporary failures
//     with per-notice exponential backoff while keeping the notices of one
//     ticket to one recipient in order, and pausing briefly while the
//     server takes no mail ([ErrUnavailable]). A permanent failure, or a
//     notice still failing after GiveUpAfter, is appended to the ticket's
//     history by the worker, through the domain
//     ([ticket.Ticket.DeliveryFailed]).
//
// The package does not decide who must be told what (package ticket does),
// does not store anything (the [Outbox] implementation does) and never reads
// mail.
package notify
