package web

// words are the texts of the pages by key, in one language.
type words map[string]string

func wordsFor(lang string) words {
	if lang == "en" {
		return english
	}
	return spanish
}

var spanish = words{
	"lang": "es", "title": "Mesa de servicios", "queues": "Colas", "search": "Buscar", "reports": "Indicadores", "logout": "Salir",
	"login": "Ingresar", "email": "Su dirección de correo", "send_link": "Enviarme un enlace",
	"login_intro": "Escriba su dirección de correo. Si pertenece a un grupo de soporte, recibirá un enlace para ingresar, válido por 15 minutos y de un solo uso.",
	"login_sent":  "Si la dirección pertenece a un grupo de soporte, le enviamos un enlace para ingresar. Revise su correo; el enlace vale 15 minutos y sirve una vez.",
	"login_bad":   "Escriba una dirección de correo válida.", "login_limit": "Demasiadas solicitudes. Espere unos minutos e intente de nuevo.",
	"login_subject": "Enlace para ingresar a la consola de la Mesa de servicios",
	"login_mail":    "Para ingresar a la consola de la Mesa de servicios, abra este enlace:\n\n%s\n\nVale %d minutos y sirve una sola vez. Si usted no lo pidió, ignore este correo.\n",
	"confirm":       "Pulse el botón para ingresar con este enlace.", "enter": "Ingresar",
	"link_used": "Este enlace ya se usó. Pida uno nuevo.", "link_expired": "Este enlace venció. Pida uno nuevo.",
	"link_unknown": "Este enlace no es válido. Pida uno nuevo.", "ask_again": "Pedir un enlace nuevo",
	"status": "Estado de su caso", "status_unknown": "Este enlace no corresponde a ningún caso.",
	"state": "Estado", "level": "Nivel", "history": "Historial", "who_you": "Usted", "who_support": "Mesa de servicios",
	"level1": "Mesa de servicios (nivel 1)", "level2": "Soporte especializado o en sitio (nivel 2)", "level3": "Especialista o proveedor (nivel 3)",
	"pub_opened": "Caso abierto", "pub_replied": "Mensaje", "pub_resolved": "Caso resuelto", "pub_closed": "Caso cerrado", "pub_reopened": "Caso reabierto",
	"group": "Grupo", "category": "Categoría", "priority": "Prioridad", "requester": "Solicitante", "subject": "Asunto", "age": "Tiempo en el nivel",
	"sla": "Plazo", "sla_ok": "a tiempo", "sla_soon": "por vencer", "sla_overdue": "vencido", "due": "vence", "all": "todos", "filter": "Filtrar",
	"count": "casos", "count_one": "caso", "shown": "Casos", "of": "de", "prev_page": "← Anteriores", "next_page": "Siguientes →", "empty": "No hay casos.", "live": "Se actualiza sola cuando llega correo.", "updated": "Actualizada",
	"ticket": "Caso", "assignee": "Asignado a", "created": "Abierto", "internal": "interna", "raw": "correo original",
	"attachments": "Adjuntos", "visits": "Tiempo en cada nivel", "start": "Desde", "end": "Hasta", "business": "Tiempo hábil", "target": "Meta",
	"met": "dentro de la meta", "late": "fuera de la meta", "ongoing": "en curso", "actions": "Acciones por correo",
	"actions_intro": "Cada acción abre su programa de correo con la orden escrita; el cambio ocurre al enviar el correo.",
	"not_found":     "El caso no existe o usted no puede verlo.", "failed": "Algo falló; el registro del servidor dice qué.",
	"words": "Palabras (asunto y texto) o ID", "from": "Desde", "to": "Hasta", "results": "resultados", "more": "Hay más resultados; precise la búsqueda.",
	"period": "Periodo", "by": "Desglose", "by_none": "ninguno", "by_level": "nivel", "by_group": "grupo", "by_category": "categoría", "by_month": "mes",
	"show": "Ver", "csv": "Descargar CSV", "no_reports": "Los indicadores no están disponibles.",
	"kind_opened": "abierto", "kind_classified": "clasificado", "kind_prioritized": "prioridad", "kind_escalated": "escalado", "kind_assigned": "asignado",
	"kind_replied": "respuesta", "kind_noted": "nota interna", "kind_resolved": "resuelto", "kind_closed": "cerrado", "kind_reopened": "reabierto",
	"kind_refused": "orden rechazada", "kind_help": "ayuda", "kind_auto_reply": "respuesta automática", "kind_delivery_failed": "correo no entregado",
	"kind_degraded": "correo dañado", "kind_third_party": "correo de un tercero", "kind_relay_paused": "reenvío pausado",
	"kind_sla_warning": "aviso de plazo", "kind_sla_breached": "plazo vencido", "kind_close_reminder": "recordatorio de cierre",
	"skip": "Ir al contenido",
}

var english = words{
	"lang": "en", "title": "Service desk", "queues": "Queues", "search": "Search", "reports": "Indicators", "logout": "Sign out",
	"login": "Sign in", "email": "Your email address", "send_link": "Send me a link",
	"login_intro": "Type your email address. If it belongs to a support group you will get a link to sign in, valid for 15 minutes and usable once.",
	"login_sent":  "If the address belongs to a support group, we sent it a link to sign in. Check your mail; the link is valid for 15 minutes and works once.",
	"login_bad":   "Type a valid email address.", "login_limit": "Too many requests. Wait a few minutes and try again.",
	"login_subject": "Your link to the service desk console",
	"login_mail":    "To sign in to the service desk console, open this link:\n\n%s\n\nIt is valid for %d minutes and works once. If you did not ask for it, ignore this mail.\n",
	"confirm":       "Press the button to sign in with this link.", "enter": "Sign in",
	"link_used": "This link was already used. Ask for a new one.", "link_expired": "This link has expired. Ask for a new one.",
	"link_unknown": "This link is not valid. Ask for a new one.", "ask_again": "Ask for a new link",
	"status": "Your case", "status_unknown": "This link belongs to no case.",
	"state": "State", "level": "Level", "history": "History", "who_you": "You", "who_support": "Service desk",
	"level1": "Service desk (level 1)", "level2": "Specialist or on-site support (level 2)", "level3": "Specialist or provider (level 3)",
	"pub_opened": "Case opened", "pub_replied": "Message", "pub_resolved": "Case resolved", "pub_closed": "Case closed", "pub_reopened": "Case reopened",
	"group": "Group", "category": "Category", "priority": "Priority", "requester": "Requester", "subject": "Subject", "age": "Time at level",
	"sla": "Target", "sla_ok": "on time", "sla_soon": "due soon", "sla_overdue": "overdue", "due": "due", "all": "all", "filter": "Filter",
	"count": "cases", "count_one": "case", "shown": "Cases", "of": "of", "prev_page": "← Previous", "next_page": "Next →", "empty": "No cases.", "live": "Updates by itself when mail arrives.", "updated": "Updated",
	"ticket": "Case", "assignee": "Assigned to", "created": "Opened", "internal": "internal", "raw": "original mail",
	"attachments": "Attachments", "visits": "Time at each level", "start": "From", "end": "Until", "business": "Business time", "target": "Target",
	"met": "within target", "late": "past target", "ongoing": "ongoing", "actions": "Actions by mail",
	"actions_intro": "Each action opens your mail program with the command written; the change happens when you send the mail.",
	"not_found":     "The case does not exist or you may not see it.", "failed": "Something failed; the server's log says what.",
	"words": "Words (subject and text) or ID", "from": "From", "to": "To", "results": "results", "more": "There are more results; narrow the search.",
	"period": "Period", "by": "Breakdown", "by_none": "none", "by_level": "level", "by_group": "group", "by_category": "category", "by_month": "month",
	"show": "Show", "csv": "Download CSV", "no_reports": "Indicators are not available.",
	"kind_opened": "opened", "kind_classified": "classified", "kind_prioritized": "priority", "kind_escalated": "escalated", "kind_assigned": "assigned",
	"kind_replied": "reply", "kind_noted": "internal note", "kind_resolved": "resolved", "kind_closed": "closed", "kind_reopened": "reopened",
	"kind_refused": "command refused", "kind_help": "help", "kind_auto_reply": "automatic reply", "kind_delivery_failed": "mail not delivered",
	"kind_degraded": "damaged mail", "kind_third_party": "mail from a third party", "kind_relay_paused": "relay paused",
	"kind_sla_warning": "target reminder", "kind_sla_breached": "target missed", "kind_close_reminder": "closure reminder",
	"skip": "Skip to content",
}
