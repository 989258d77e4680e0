// Package sender decides whether a mail comes from the address in its From
// field, from evidence that the sender cannot forge: the results the desk's
// own receiving servers recorded (RFC 8601 Authentication-Results), a DKIM
// signature verified here (RFC 6376), and Exchange's internal marker. A
// [Checker] turns one mail into a [Verdict]: which evidence holds, which
// is missing or failed and why (a machine code and a short English reason),
// and whether the sender is trusted under a [Policy]. The caller uses it to
// decide whether the mail's commands may change a ticket. The package does
// no other I/O than DNS lookups of DKIM keys, and keeps no state.
//
// # What is trusted
//
// Anyone can write any header into a mail, Authentication-Results
// included. What the sender cannot do is write above the fields that the
// receiving server adds when it accepts the mail. So only the topmost
// Authentication-Results field whose authserv-id is one of the desk's own
// servers (security.authserv_id) counts; fields of other servers, and any
// further field with a trusted authserv-id below that topmost one, are the
// sender's word and ignored (RFC 8601 §5). Without authserv-ids no field
// counts at all. From that field:
//
//   - dmarc: a DMARC pass (RFC 7489) whose header.from is the From domain;
//   - dkim: a DKIM pass whose signing domain (header.d, or the domain of
//     header.i) is aligned with the From domain;
//   - spf: an SPF pass whose smtp.mailfrom domain is aligned with the From
//     domain;
//   - auth: auth=pass whose smtp.auth is the From address: the sender
//     logged in to the organisation's submission server.
//
// More than one dmarc, spf or auth result in the trusted field is taken
// as a forgery (an envelope address the server copied unquoted can inject
// text into its field) and fails. Alignment is DMARC's relaxed alignment
// (RFC 7489 §3.1): the two domains have the same organizational domain,
// found with the public-suffix list compiled into golang.org/x/net.
//
// When no trusted field says anything about DKIM and DKIM is accepted,
// the Checker verifies the mail's signatures itself with go-msgauth,
// looking the keys up in DNS with a timeout: an aligned valid signature
// counts. A signature of another domain, a changed header or body, a
// missing key or a lookup that times out does not, and the verdict says
// which. Signatures with a body length (l=) are refused by go-msgauth.
//
// internal is Exchange's X-MS-Exchange-Organization-AuthAs: Internal, which
// Exchange and Microsoft 365 delete from mail that reaches them from outside
// and set on mail their own users sent. reply_token is decided by the
// caller, who knows ticketd's reply addresses ([Mail.ReplyToken]). The
// policy "none" trusts everyone; [Policy.Warnings] says so for the log.
//
// Whatever the evidence, the mail must have exactly one From field with
// one address, the address checked (RFC 7489 §6.6.1): a second From is how
// a signed mail is passed off as someone else's.
//
// # What is not trusted, and what is not protected
//
// The From field, Reply-To, Sender, Received, Return-Path, and any
// Authentication-Results, ARC or X-MS-Exchange-* field other than those
// above are never evidence. The model rests on the receiving servers: they
// must add their Authentication-Results to every mail they deliver to the
// desk's mailbox and remove those with their own authserv-id that arrive
// with it (RFC 8601 §5). "internal" is safe only when the mailbox is in
// Exchange or Microsoft 365: any other server lets the header through, so
// leave "internal" out of the policy there. A valid DKIM signature proves
// where a mail was signed, not when: a signed mail can be sent again as it
// is (the caller's Message-ID deduplication stops a second delivery of the
// same mail). A sender whose own account or domain is compromised is, for
// this package, that sender.
package sender
