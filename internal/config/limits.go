package config

// LimitsConfig bounds what ticketd unpacks of one mail, against hostile
// input. Past each limit the mail still becomes a ticket change, its raw
// copy kept whole (up to imap.max_message_size), with a degraded note
// naming the limit.
type LimitsConfig struct {
	// SubjectChars is the most characters of a subject kept; a cut subject
	// keeps its ticket tag. Default 1000.
	SubjectChars int `mapstructure:"subject_chars"`
	// HeaderBytes is the most bytes of one header block read (of the mail
	// or of a forwarded message). Default 256 KiB.
	HeaderBytes int `mapstructure:"header_bytes"`
	// HeaderFields is the most fields of one header block read. Default
	// 1000.
	HeaderFields int `mapstructure:"header_fields"`
	// MIMEDepth is the deepest nesting of MIME parts read. Default 20.
	MIMEDepth int `mapstructure:"mime_depth"`
	// MIMEParts is the most MIME parts read in one mail. Default 500.
	MIMEParts int `mapstructure:"mime_parts"`
	// ForwardDepth is the most levels of forwarded messages inside
	// forwarded messages unpacked; deeper ones stay unopened inside the
	// outermost, which is kept as an attachment. Default 5.
	ForwardDepth int `mapstructure:"forward_depth"`
}

func defaultLimits() LimitsConfig {
	return LimitsConfig{SubjectChars: 1000, HeaderBytes: 256 << 10, HeaderFields: 1000,
		MIMEDepth: 20, MIMEParts: 500, ForwardDepth: 5}
}

// validate adds a problem for each limit that is not a positive number.
func (l LimitsConfig) validate(p *problems) {
	for _, f := range []struct {
		key string
		v   int
	}{
		{"limits.subject_chars", l.SubjectChars}, {"limits.header_bytes", l.HeaderBytes},
		{"limits.header_fields", l.HeaderFields}, {"limits.mime_depth", l.MIMEDepth},
		{"limits.mime_parts", l.MIMEParts}, {"limits.forward_depth", l.ForwardDepth},
	} {
		if f.v <= 0 {
			p.add(f.key, "%d: must be positive", f.v)
		}
	}
}
