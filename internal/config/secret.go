package config

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what a [Secret] shows instead of its value.
const redacted = "REDACTED"

// Secret is a password, token or client secret. It prints (with every fmt
// verb), logs (slog), and marshals to JSON or text as "REDACTED", so a
// [Config] can be dumped or logged without leaking credentials. Use
// [Secret.Reveal] where the value is really needed. The zero value is an
// empty secret.
type Secret string

// Reveal returns the secret's value. Call it only where the value is handed
// to the protocol that needs it.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

// String returns "REDACTED".
func (Secret) String() string { return redacted }

// GoString returns "REDACTED", so %#v does not show the value either.
func (Secret) GoString() string { return redacted }

// Format writes "REDACTED" for every verb. Without it a verb that does not
// fit a string (%d, %t) would make fmt print the raw value in its error text.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements [slog.LogValuer].
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON returns the JSON string "REDACTED".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "REDACTED", for encoders that use
// [encoding.TextMarshaler].
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
