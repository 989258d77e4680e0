// Package config loads ticketd's settings from a YAML file and TICKETD_*
// environment variables into plain typed structs, and validates them.
//
// It is the only package of ticketd that imports viper, and it imports no
// other package of this repository: cmd/ticketd copies each section of
// [Config] into the Options of the package that needs it. Nothing here keeps
// global state; every [Load] uses its own viper instance.
//
// # Sources and precedence
//
// A value comes from, in order of precedence: an environment variable, the
// config file, the built-in default ([Default]). The variable for a key is
// TICKETD_ followed by the key in upper case with "." replaced by "_":
// imap.password is TICKETD_IMAP_PASSWORD, imap.oauth.token_file is
// TICKETD_IMAP_OAUTH_TOKEN_FILE. List values (admin.alert_to,
// imap.oauth.scopes) are comma-separated in the environment. An empty
// variable counts as unset. Groups can only be defined in the file.
//
// # Secrets
//
// Passwords and client secrets are of type [Secret], which prints, logs and
// marshals as "REDACTED". Each can be given directly (preferably through the
// environment) or through a *_file key naming a file whose content, minus a
// trailing newline, is the secret; [Load] reads those files. Relative paths
// are relative to the working directory, like data_dir. Error messages never
// include a secret value.
//
// # Names
//
// viper lowercases map keys, so group names are case-insensitive: a group
// written "Redes" is called "redes". A group name is one word of letters,
// digits, "-" and "_".
package config
