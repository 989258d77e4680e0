package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ticketd/ticketd/internal/admin"
)

// The exit codes of ticketd, documented in the README's command-line
// section.
const (
	exitOK       = 0
	exitError    = 1 // anything that went wrong
	exitUsage    = 2 // the command line itself is wrong
	exitNotFound = 3 // the ticket or record named does not exist
)

// exitErr is an error that ends ticketd with a code other than exitError.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// usageError marks err as a mistake in the command line (exit code 2).
func usageError(err error) error { return &exitErr{code: exitUsage, err: err} }

// notFound turns err into "<what> <id> not found" (exit code 3) when it
// says that what was asked for does not exist; id is written as the user
// typed it. Other errors are returned as they are.
func notFound(err error, what, id string) error {
	if errors.Is(err, admin.ErrNotFound) {
		return &exitErr{code: exitNotFound, err: fmt.Errorf("%s %s not found", what, id)}
	}
	return err
}

// exitCode is the process's exit code after run returned err.
func exitCode(err error) int {
	var e *exitErr
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &e):
		return e.code
	// cobra's own mistakes in the command line, which it returns as plain
	// errors: an unknown subcommand, a required flag missing.
	case strings.HasPrefix(err.Error(), "unknown command "), strings.HasPrefix(err.Error(), "required flag(s) "):
		return exitUsage
	}
	return exitError
}

// args wraps a cobra argument check so that its failure is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError(err)
		}
		return nil
	}
}
