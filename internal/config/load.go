package config

import (
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// EnvPrefix starts the name of every environment variable [Load] reads.
const EnvPrefix = "TICKETD"

// FieldError is one problem with one setting. [Load] and [Config.Validate]
// return several of them joined with [errors.Join]; find one with
// [errors.As] or list them by unwrapping. Its text never contains a secret.
type FieldError struct {
	// File is the config file, "" when none was read.
	File string
	// Key is the setting, as written in the file: "imap.port",
	// "groups.redes.members[1]". "" for a problem with the whole file.
	Key string
	// Env is the environment variable the value came from, "" if it came
	// from the file or the defaults.
	Env string
	// Err says what is wrong.
	Err error
}

// Error returns "file: key (from $ENV): problem".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("(no config file)")
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	if e.Env != "" {
		b.WriteString(" (from $")
		b.WriteString(e.Env)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying problem.
func (e *FieldError) Unwrap() error { return e.Err }

// errUnknownKey is the problem of a key no field corresponds to.
var errUnknownKey = errors.New("unknown key")

// EnvName returns the environment variable that overrides key:
// "imap.oauth.token_file" gives "TICKETD_IMAP_OAUTH_TOKEN_FILE".
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load reads the YAML file at path (none when path is ""), overlays the
// TICKETD_* environment on it and on the defaults of [Default], reads the
// secret files (password_file, client_secret_file) and checks that token
// files are readable, fills in the ports and the support address left to
// their defaults, and validates the result with [Config.Validate].
//
// Every problem is reported at once, joined with [errors.Join]: each is a
// [*FieldError] naming the file and the key. Unknown keys, values of the
// wrong type and invalid values are all errors; nothing falls back to a
// default. On error the returned Config is incomplete and must not be used,
// but its Warnings are filled. Warnings cover secrets that group or others
// can read and TICKETD_* variables that match no key. Load does file I/O
// only; it is safe to call from several goroutines.
func Load(path string) (Config, error) { return load(path, true) }

// LoadWithoutSecrets is [Load] that leaves the secret files (password_file,
// client_secret_file, token_file) unread and their Secrets empty: for the
// commands that only read tickets or talk to the admin API, which an
// operator who may not read the mail passwords can run. The validation is
// the same, as it needs only to know which secret files are named.
func LoadWithoutSecrets(path string) (Config, error) { return load(path, false) }

func load(path string, secrets bool) (Config, error) {
	v := viper.New()
	for _, k := range leafKeys() {
		v.SetDefault(k.key, k.def)
	}

	var warnings []string
	if path != "" {
		v.SetConfigFile(path)
		// Always YAML, whatever the extension (ticketd.conf is fine; JSON
		// is YAML too).
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{File: path}, &FieldError{File: path, Err: err}
		}
		// AutomaticEnv is not on yet, so these see the file and defaults only.
		warnings = append(warnings, fileModeWarnings(v, path)...)
	}

	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	// Decode over the defaults so that a value that fails to decode leaves
	// the default in place and does not cause a second, misleading error.
	cfg := Default()
	var errs []error
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		durationHook, sliceHook, dateHook,
	))); err != nil {
		errs = append(errs, decodeErrors(err)...)
	}
	cfg.File = path

	if secrets {
		secretErrs, secretWarnings := cfg.readSecrets()
		errs = append(errs, secretErrs...)
		warnings = append(warnings, secretWarnings...)
	}
	cfg.resolve()
	if err := cfg.Validate(); err != nil {
		errs = append(errs, flatten(err)...)
	}
	cfg.Warnings = warnings

	cfg.Warnings = append(cfg.Warnings, unknownEnvWarnings()...)
	cfg.Warnings = append(cfg.Warnings, cfg.Security.warnings()...)

	envKeys := envNames()
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) {
			fe.File = path
			// Say where a bad value came from when the environment set it.
			if name := EnvName(fe.Key); envKeys[name] && os.Getenv(name) != "" {
				fe.Env = name
			}
		}
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

// envNames returns the set of environment variables that override a key.
func envNames() map[string]bool {
	names := map[string]bool{}
	for _, k := range leafKeys() {
		names[EnvName(k.key)] = true
	}
	return names
}

// unknownEnvWarnings warns about TICKETD_* variables that match no key,
// such as TICKETD_IMAP_PASWORD: viper ignores them silently. TICKETD_CONFIG
// (read by the command) and TICKETD_TEST_* (test switches) are not keys.
func unknownEnvWarnings() []string {
	known := envNames()
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || known[name] ||
			name == EnvPrefix+"_CONFIG" || strings.HasPrefix(name, EnvPrefix+"_TEST_") {
			continue
		}
		out = append(out, fmt.Sprintf("environment variable %s matches no setting and is ignored", name))
	}
	slices.Sort(out)
	return out
}

// keyDefault is a leaf key of [Config] and its default value.
type keyDefault struct {
	key string
	def any
}

var durationType = reflect.TypeFor[time.Duration]()

// leafKeys lists every key of [Config] that has a fixed name, with its
// default from [Default]. viper needs a default for each key, or
// AutomaticEnv never reaches Unmarshal for it. Maps (groups) are skipped:
// their keys are not known in advance.
func leafKeys() []keyDefault {
	var out []keyDefault
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			tag := t.Field(i).Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			f := v.Field(i)
			switch {
			case f.Kind() == reflect.Struct:
				walk(key+".", f)
			case f.Kind() == reflect.Map:
			case f.Type() == durationType:
				out = append(out, keyDefault{key, f.Interface()})
			case f.Kind() == reflect.String:
				// A plain string, not Secret: viper hands defaults around
				// and Secret would print as REDACTED in its debug output.
				out = append(out, keyDefault{key, f.String()})
			default:
				out = append(out, keyDefault{key, f.Interface()})
			}
		}
	}
	walk("", reflect.ValueOf(Default()))
	return out
}

// durationHook decodes "30s" into a time.Duration. Unlike mapstructure's
// weak typing it refuses a bare number, which would silently mean
// nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		s := strings.TrimSpace(data.(string))
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as \"30s\", \"15m\" or \"1h\"", s)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v has no unit: write a duration such as \"%vs\" or \"%vm\"", data, data, data)
	}
	return data, nil
}

// sliceHook splits a comma-separated string, as lists come from the
// environment, into a trimmed []string.
func sliceHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() != reflect.String {
		return data, nil
	}
	var out []string
	for p := range strings.SplitSeq(data.(string), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// decodeErrors turns the errors of mapstructure into [*FieldError]s, one
// per key; its "has invalid keys" error becomes one per unknown key.
// mapstructure v2 leaves values out of its messages, so no secret leaks.
func decodeErrors(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if de, ok := e.(*mapstructure.DecodeError); ok {
			inner := de.Unwrap()
			if _, ok := inner.(interface{ Unwrap() []error }); ok {
				walk(inner)
				return
			}
			name := keyName(de.Name())
			if rest, ok := strings.CutPrefix(inner.Error(), "has invalid keys: "); ok {
				for k := range strings.SplitSeq(rest, ", ") {
					out = append(out, &FieldError{Key: joinKey(name, k), Err: unknownKey(joinKey(name, k))})
				}
				return
			}
			out = append(out, &FieldError{Key: name, Err: inner})
			return
		}
		if u := errors.Unwrap(e); u != nil { // "decoding failed due to..."
			walk(u)
			return
		}
		out = append(out, &FieldError{Err: e})
	}
	walk(err)
	return out
}

// keyName rewrites mapstructure's "groups[redes].members[1]" as the key
// written in the file, "groups.redes.members[1]": map keys become path
// elements, list indexes stay.
func keyName(name string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(name, '[')
		if i < 0 {
			b.WriteString(name)
			return b.String()
		}
		j := strings.IndexByte(name[i:], ']')
		if j < 0 {
			b.WriteString(name)
			return b.String()
		}
		inside := name[i+1 : i+j]
		b.WriteString(name[:i])
		if strings.Trim(inside, "0123456789") == "" && inside != "" {
			b.WriteString(name[i : i+j+1])
		} else {
			b.WriteString(".")
			b.WriteString(inside)
		}
		name = name[i+j+1:]
	}
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// flatten lists the errors joined in err.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// secretKeys are the keys whose value in the file is a credential.
var secretKeys = []string{
	"imap.password", "imap.oauth.client_secret",
	"smtp.password", "smtp.oauth.client_secret",
}

// fileModeWarnings warns when the config file holds a credential and group
// or others may read it.
func fileModeWarnings(v *viper.Viper, path string) []string {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	var held []string
	for _, k := range secretKeys {
		if v.InConfig(k) && v.GetString(k) != "" {
			held = append(held, k)
		}
	}
	if len(held) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s: holds %s but is readable by group or others (mode %04o): chmod 600 it, or move the secret to a *_file key or a TICKETD_* variable",
		path, strings.Join(held, ", "), fi.Mode().Perm())}
}

// secretFile is a credential that can be given by value or by file.
type secretFile struct {
	key    string // "imap.password"
	secret *Secret
	file   string
}

// readSecrets reads every *_file key into its [Secret], and checks that
// token files are readable. It warns about secret files others can read.
func (c *Config) readSecrets() (errs []error, warnings []string) {
	pairs := []secretFile{
		{"imap.password", &c.IMAP.Password, c.IMAP.PasswordFile},
		{"imap.oauth.client_secret", &c.IMAP.OAuth.ClientSecret, c.IMAP.OAuth.ClientSecretFile},
		{"smtp.password", &c.SMTP.Password, c.SMTP.PasswordFile},
		{"smtp.oauth.client_secret", &c.SMTP.OAuth.ClientSecret, c.SMTP.OAuth.ClientSecretFile},
	}
	for _, p := range pairs {
		if p.file == "" {
			continue
		}
		if *p.secret != "" {
			errs = append(errs, &FieldError{Key: p.key + "_file",
				Err: fmt.Errorf("set together with %s: give the secret one way only", p.key)})
			continue
		}
		b, w, err := readSecretFile(p.key+"_file", p.file)
		if w != "" {
			warnings = append(warnings, w)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			errs = append(errs, &FieldError{Key: p.key + "_file", Err: fmt.Errorf("%s is empty", p.file)})
			continue
		}
		*p.secret = Secret(s)
	}
	for _, t := range []struct{ key, file string }{
		{"imap.oauth.token_file", c.IMAP.OAuth.TokenFile},
		{"smtp.oauth.token_file", c.SMTP.OAuth.TokenFile},
	} {
		key, file := t.key, t.file
		if file == "" {
			continue
		}
		// Only readable: the token is re-read at every connection, since
		// another program keeps it fresh.
		_, w, err := readSecretFile(key, file)
		if w != "" {
			warnings = append(warnings, w)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs, warnings
}

// readSecretFile reads the file named by key, and warns when group or
// others may read it.
func readSecretFile(key, path string) ([]byte, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", &FieldError{Key: key, Err: err}
	}
	defer f.Close()
	var warning string
	if fi, err := f.Stat(); err == nil {
		if fi.IsDir() {
			return nil, "", &FieldError{Key: key, Err: fmt.Errorf("%s is a directory", path)}
		}
		if fi.Mode().Perm()&0o077 != 0 {
			warning = fmt.Sprintf("%s %s is readable by group or others (mode %04o): chmod 600 it",
				key, path, fi.Mode().Perm())
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, warning, &FieldError{Key: key, Err: fmt.Errorf("read %s: %w", path, err)}
	}
	return b, warning, nil
}

// resolve normalizes the spelling of enumerated values and fills in the
// settings whose default depends on another: ports and the support address.
func (c *Config) resolve() {
	for _, s := range []*string{
		&c.Ticket.Lang, &c.IMAP.TLS, &c.IMAP.Auth, &c.SMTP.TLS, &c.SMTP.Auth,
		&c.Log.Format, &c.Log.Level,
	} {
		*s = strings.ToLower(strings.TrimSpace(*s))
	}
	c.Security.normalize(c.DataDir)
	for name, g := range c.Groups {
		g.Kind = strings.ToLower(strings.TrimSpace(g.Kind))
		c.Groups[name] = g
	}
	if c.IMAP.Port == 0 {
		switch c.IMAP.TLS {
		case TLSImplicit:
			c.IMAP.Port = 993
		case TLSStartTLS, TLSNone:
			c.IMAP.Port = 143
		}
	}
	if c.SMTP.Port == 0 {
		switch c.SMTP.TLS {
		case TLSImplicit:
			c.SMTP.Port = 465
		case TLSStartTLS:
			c.SMTP.Port = 587
		case TLSNone:
			c.SMTP.Port = 25
		}
	}
	if c.SMTP.SupportAddress == "" {
		if a, err := mail.ParseAddress(c.SMTP.From); err == nil {
			c.SMTP.SupportAddress = a.Address
		}
	}
}
