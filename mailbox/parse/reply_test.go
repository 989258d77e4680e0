package parse

import "testing"

func TestExtractReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{
			"gmail es one line",
			"Hecho, gracias.\n\nEl lun, 3 nov 2026 a las 10:00, Ana <ana@example.com> escribió:\n> ¿Puede probar?\n",
			"Hecho, gracias.",
		},
		{
			"gmail es wrapped",
			"Sigue igual.\n\nEl lun, 3 nov 2026 a las 10:00, Soporte TI (<soporte@example.org>)\nescribió:\n\n> Hola\n",
			"Sigue igual.",
		},
		{
			"gmail en",
			"Works now.\r\n\r\nOn Mon, Nov 3, 2026 at 10:00 AM Ana <ana@example.com> wrote:\r\n> Try again\r\n",
			"Works now.",
		},
		{
			"gmail en wrapped without quote marks (from HTML)",
			"Works now.\n\nOn Mon, Nov 3, 2026 at 10:00 AM Ana Pérez García <\nana.perez@example.com> wrote:\n\nTry again\n",
			"Works now.",
		},
		{
			"outlook original message es",
			"Adjunto el log.\n\n-----Mensaje original-----\nDe: Soporte\nEnviado: lunes\nPara: Ana\nAsunto: log\n\nMándenos el log.",
			"Adjunto el log.",
		},
		{
			"outlook original message en",
			"See attached.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nTo: Ana\nSubject: log\n",
			"See attached.",
		},
		{
			"outlook header block es with underscores",
			"Gracias.\n\n________________________________\nDe: Soporte TI <soporte@example.org>\nEnviado: lunes, 3 de noviembre de 2026 10:00\nPara: Ana <ana@example.com>\nAsunto: [OTI-1] Impresora\n\nHola Ana",
			"Gracias.",
		},
		{
			"outlook header block en bold",
			"Thanks.\n\n*From:* Support <support@example.org>\n*Sent:* Monday, November 3, 2026 10:00 AM\n*To:* Ana\n*Subject:* [OTI-1] Printer\n\nHi Ana",
			"Thanks.",
		},
		{
			"outlook header block without underscores",
			"Ok.\nDe: Soporte TI\nEnviado el: lunes, 3 de noviembre de 2026 10:00\nPara: Ana\nCC: Luis\nAsunto: RE: algo\n",
			"Ok.",
		},
		{
			"iphone es",
			"Ya funciona.\n\nEnviado desde mi iPhone\n\n> El 3 nov 2026, a las 10:00, Ana <ana@example.com> escribió:\n> \n> Pruebe\n",
			"Ya funciona.",
		},
		{
			"iphone en",
			"Done.\n\nSent from my iPhone\n\n> On Nov 3, 2026, at 10:00, Ana <ana@example.com> wrote:\n",
			"Done.",
		},
		{
			"apple mail es unquoted header",
			"Recibido.\n\nEl 3 nov 2026, a las 10:00, Ana <ana@example.com> escribió:\n\nTexto anterior",
			"Recibido.",
		},
		{
			"thunderbird es",
			"Vale.\n\nEl 3/11/26 a las 10:00, Ana escribió:\n> Texto\n",
			"Vale.",
		},
		{
			"thunderbird en",
			"Fine.\n\nOn 11/3/26 10:00, Ana wrote:\n> Text\n",
			"Fine.",
		},
		{
			"signature",
			"Hola, no me funciona el correo.\n\n-- \nAna Pérez\nDepartamento de Compras\nExt. 1234",
			"Hola, no me funciona el correo.",
		},
		{
			"signature stripped of its space",
			"Hola.\n--\nAna",
			"Hola.",
		},
		{
			"interleaved quote lines are dropped",
			"> ¿Qué versión?\nLa 12.\n> ¿Y el equipo?\nPC-0042\n",
			"La 12.\nPC-0042",
		},
		{
			"bottom posting",
			"On Mon, Nov 3, 2026 at 10:00 AM Ana <ana@example.com> wrote:\n> Can you try?\n\nTried, same error.\n",
			"Tried, same error.",
		},
		{
			"trailing and leading blank lines trimmed",
			"\n\n  Indented first line\nsecond\n\n\n\n",
			"  Indented first line\nsecond",
		},
		{
			"forwarded block is kept",
			"Mirad esto.\n\n---------- Mensaje reenviado ----------\nDe: X <x@example.com>\nFecha: hoy\nAsunto: aviso\n\nCuerpo reenviado\n",
			"Mirad esto.\n\n---------- Mensaje reenviado ----------\nDe: X <x@example.com>\nFecha: hoy\nAsunto: aviso\n\nCuerpo reenviado",
		},
		{
			"sentence starting with El is not a header",
			"El equipo no arranca desde ayer.\nEl técnico escribió:\nnada\n",
			"El equipo no arranca desde ayer.\nEl técnico escribió:\nnada",
		},
		{
			"a From line alone is not a header block",
			"From: the logs I see a timeout.\nPlease check.",
			"From: the logs I see a timeout.\nPlease check.",
		},
		{"empty", "", ""},
		{"only quote", "> a\n> b\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ExtractReply(tt.in); got != tt.want {
				t.Errorf("ExtractReply(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
