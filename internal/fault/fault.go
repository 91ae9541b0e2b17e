// Package fault gives every error that can reach a user a kind from a short,
// closed list and a message that is safe to show. The detail (wrapped error)
// is for the log only; one adapter in internal/web maps the kind to an HTTP
// status and the command line maps it to an exit status.
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the people and programs outside.
type Kind uint8

// The closed list of kinds.
const (
	Internal        Kind = iota // something broke; the user can only retry or call the practice
	Invalid                     // the input is wrong; the message says how to fix it
	NotFound                    // nothing there, or nothing the actor may know exists
	Conflict                    // the request clashes with the current state
	Unauthenticated             // sign in first
	Forbidden                   // signed in, but not allowed
	RateLimited                 // too many attempts; wait
	TooLarge                    // the request body is over the limit
	Unsupported                 // the request body is in a format this call does not take
)

var kindNames = [...]string{"internal", "invalid", "not_found", "conflict", "unauthenticated", "forbidden", "rate_limited", "too_large", "unsupported_media_type"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "internal"
}

// Error is an error with a kind and a safe message.
type Error struct {
	Kind Kind
	// Msg is shown to the user: plain language, no internals, no PHI.
	Msg string
	// Err is the underlying cause, for the log.
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Msg != "":
		return e.Msg + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an Error. cause may be nil.
func E(kind Kind, msg string, cause error) *Error {
	return &Error{Kind: kind, Msg: msg, Err: cause}
}

// Errorf builds an Error whose safe message is formatted. Never format PHI or
// secrets into it.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KindOf reports the kind of the first *Error in err's chain; Internal if none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Message returns the safe message of the first *Error in err's chain that has
// one, or a generic message for internal failures. It never returns the text
// of an unclassified error.
func Message(err error) string {
	var e *Error
	for err != nil {
		if errors.As(err, &e) {
			if e.Msg != "" {
				return e.Msg
			}
			err = e.Err
			continue
		}
		break
	}
	return "Something went wrong on our side. Please try again in a minute; if it keeps happening, call the practice."
}
