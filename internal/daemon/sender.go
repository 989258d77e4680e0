package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ticketd/ticketd/mailbox/parse"
	"github.com/ticketd/ticketd/mailbox/sender"
	"github.com/ticketd/ticketd/ticket"
)

// SenderChecker decides whether a mail's sender is who its From says;
// *sender.Checker implements it. Check must return once ctx ends, whatever
// its DNS lookups are doing.
type SenderChecker interface {
	Check(ctx context.Context, m sender.Mail) sender.Verdict
}

// verify checks the sender of pm, whose raw copy is in b, and
// returns what the rules are told. The check runs outside any store
// transaction and is bounded by the loop's VerifyTimeout, so that a slow
// or silent DNS server delays one mail by at most that, never the mailbox.
// A raw copy that cannot be read is an error: nothing is committed and the
// mail is retried.
func (l *Loop) verify(ctx context.Context, pm *parse.Mail, b blobs) (ticket.Verification, error) {
	f, err := b.Open(pm.RawSHA256)
	if err != nil {
		return ticket.Verification{}, fmt.Errorf("open raw mail %s to verify its sender: %w", pm.MessageID, err)
	}
	defer f.Close()
	// The raw copy's file is read in place (twice at most, streaming): a
	// 25 MiB mail is never held in memory for the check. Only a blob that
	// is not a plain file is read into memory first.
	raw, ok := f.(io.ReaderAt)
	if !ok {
		b, err := io.ReadAll(f)
		if err != nil {
			return ticket.Verification{}, fmt.Errorf("read raw mail %s to verify its sender: %w", pm.MessageID, err)
		}
		raw = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.VerifyTimeout)
	defer cancel()
	v := l.opts.Senders.Check(ctx, sender.Mail{Raw: raw, From: pm.From.Addr})
	return verification(v), nil
}

// verification maps a verdict onto what the rules read: the evidence that
// made the sender trusted, or why not, in Spanish and in English.
func verification(v sender.Verdict) ticket.Verification {
	if v.Trusted {
		return ticket.Verification{Verified: true, Evidence: string(v.By)}
	}
	es, ok := reasonsES[v.Code]
	if !ok {
		es = reasonsES[sender.CodeNoEvidence]
	}
	return ticket.Verification{Reason: es, ReasonEN: strings.TrimPrefix(v.Reason, "sender not verified: ")}
}

// reasonsES says in Spanish why a sender was not verified, by the
// verdict's code: the code of the first failure, or no_evidence when the
// accepted evidence is only absent.
var reasonsES = map[string]string{
	sender.CodeNoEvidence: "el correo no trae ninguna de las pruebas aceptadas de quién lo envió",
	sender.CodeBadFrom:    "el campo From falta, está repetido o no tiene exactamente una dirección",
	"dmarc_conflict":      "el resultado DMARC del servidor aparece varias veces (posible falsificación)",
	"dmarc_fail":          "el dominio del remitente no superó DMARC",
	"dmarc_other_domain":  "el resultado DMARC es de otro dominio",
	"spf_conflict":        "el resultado SPF del servidor aparece varias veces (posible falsificación)",
	"spf_fail":            "el servidor de envío no está autorizado por SPF",
	"spf_unaligned":       "el SPF aprobado es de otro dominio",
	"auth_conflict":       "el resultado de inicio de sesión aparece varias veces (posible falsificación)",
	"auth_fail":           "el inicio de sesión en el servidor de la organización falló",
	"auth_other_identity": "quien inició sesión en el servidor no es la dirección del remitente",
	"dkim_fail":           "la firma DKIM no es válida (el correo fue modificado o la clave no corresponde)",
	"dkim_unaligned":      "la firma DKIM es de otro dominio",
	"dkim_unreadable":     "las firmas DKIM no se pueden leer",
	"dkim_dns":            "la clave DKIM no se pudo consultar en el DNS a tiempo",
}
