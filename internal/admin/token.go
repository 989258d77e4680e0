package admin

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MinTokenLen is the shortest admin token [ReadToken] accepts, in
// characters. A token made by [LoadOrCreateToken] is 32 random bytes in
// unpadded base64url: 43 characters.
const MinTokenLen = 32

// ReadToken reads the admin token from the file at path: its content with
// surrounding white space removed. It refuses, with an error that says
// what to do, a file that is not a regular file, one that others may read
// or write or its group may write (as ssh refuses such a private key: a
// token that others could read proves nothing), and a token shorter than
// [MinTokenLen] or with characters outside printable ASCII. The file's
// group may read it: that group (ticketd's own, as the package installs
// it) is who may operate the daemon, so its members can run the commands
// through the API without reading the mail passwords. It does file I/O
// only.
func ReadToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("admin token %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		return "", fmt.Errorf("admin token %s has mode %04o: others must have no access and the group may only read (chmod 640 %s, and make a new token if others may have read it: delete the file and restart ticketd)",
			path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("read admin token %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinTokenLen {
		return "", fmt.Errorf("admin token in %s is %d characters long, want at least %d (delete the file and restart ticketd to make a new one)", path, len(tok), MinTokenLen)
	}
	for _, c := range []byte(tok) {
		if c < 0x21 || c > 0x7e {
			return "", fmt.Errorf("admin token in %s has a character that is not printable ASCII", path)
		}
	}
	return tok, nil
}

// LoadOrCreateToken returns the admin token in the file at path, as
// [ReadToken] does; when the file does not exist it first writes a new
// token there, 32 bytes from crypto/rand, with mode 0640 (the operators'
// group reads it, see [ReadToken]), creating the directory (mode 0750)
// when missing. created says whether it wrote the
// file. The file appears whole or not at all, so two processes starting at
// once end up with the same token.
func LoadOrCreateToken(path string) (tok string, created bool, err error) {
	if _, err := os.Lstat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		tok, err := ReadToken(path)
		return tok, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", false, fmt.Errorf("create admin token: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".admin-token-*") // mode 0600
	if err != nil {
		return "", false, fmt.Errorf("create admin token: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(newToken() + "\n")
	if err == nil {
		err = tmp.Chmod(0o640)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", false, fmt.Errorf("write admin token %s: %w", tmp.Name(), err)
	}
	// A hard link never replaces an existing file: whoever links first wins.
	switch err := os.Link(tmp.Name(), path); {
	case errors.Is(err, os.ErrExist):
	case err != nil:
		return "", false, fmt.Errorf("create admin token: %w", err)
	default:
		created = true
	}
	tok, err = ReadToken(path)
	return tok, created, err
}

// newToken returns 32 bytes from crypto/rand in unpadded base64url.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}
