package service

import (
	"bytes"
	"strings"
)

// Redacted replaces a secret in text smmapi did not write.
const Redacted = "[redacted]"

// minSecret is the shortest secret redacted: shorter strings would take
// ordinary words and numbers out of messages.
const minSecret = 8

// Redactor takes secrets out of text that comes from outside, above all a
// supplier's answers, before it is stored (last_error, ticket decisions)
// or logged: a supplier that echoes the key it was sent ("Invalid key
// 5f3c…") must not put smmapi's keys and tokens into the log or the database.
type Redactor struct{ secrets []string }

// NewRedactor returns a Redactor of secrets (empty and short ones skipped).
func NewRedactor(secrets ...string) Redactor { return Redactor{}.With(secrets...) }

// With returns a Redactor of r's secrets and more.
func (r Redactor) With(more ...string) Redactor {
	out := Redactor{secrets: append([]string(nil), r.secrets...)}
	for _, s := range more {
		if len(s) >= minSecret {
			out.secrets = append(out.secrets, s)
		}
	}
	return out
}

// String returns s with every secret replaced.
func (r Redactor) String(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, Redacted)
	}
	return s
}

// Bytes returns b with every secret replaced (b itself when none occurs).
func (r Redactor) Bytes(b []byte) []byte {
	for _, sec := range r.secrets {
		if bytes.Contains(b, []byte(sec)) {
			b = bytes.ReplaceAll(b, []byte(sec), []byte(Redacted))
		}
	}
	return b
}
