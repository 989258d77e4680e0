package ticket

import (
	"errors"
	"fmt"
)

// Bilingual is an error whose text users read: Error gives the Spanish
// text (users read Spanish by default) and English the English one.
// Refusals and syntax errors are Bilingual; match them with errors.As.
type Bilingual interface {
	error
	English() string
}

// userError is a refusal or a syntax error, in both languages.
type userError struct {
	es, en string
	syntax bool // wraps ErrSyntax
}

func (e *userError) Error() string   { return e.es }
func (e *userError) English() string { return e.en }
func (e *userError) Unwrap() error {
	if e.syntax {
		return ErrSyntax
	}
	return nil
}

// refuse says why the procedure or the sender's role does not allow a
// command; es and en are formats over the same args.
func refuse(es, en string, args ...any) error {
	return &userError{es: fmt.Sprintf(es, args...), en: fmt.Sprintf(en, args...)}
}

// argError says what is wrong with a command's arguments, in both
// languages; the command it belongs to turns it into a syntax error that
// quotes its syntax ([command.syntaxError]).
type argError struct{ es, en string }

func (e *argError) Error() string { return e.es }

// badArgs says what is wrong with a command's arguments; es and en are
// formats over the same args.
func badArgs(es, en string, args ...any) error {
	return &argError{es: fmt.Sprintf(es, args...), en: fmt.Sprintf(en, args...)}
}

// English returns the English text of err when it has one, else its
// (Spanish) text.
func English(err error) string {
	var b Bilingual
	if errors.As(err, &b) {
		return b.English()
	}
	return err.Error()
}
