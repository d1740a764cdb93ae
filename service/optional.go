package service

import (
	"encoding/json"
	"reflect"
)

// Optional is a JSON field of a PATCH body that distinguishes absent (Set
// false: leave it), null (Set, Value nil: clear it) and a value.
type Optional[T any] struct {
	Set   bool
	Value *T
}

// UnmarshalJSON records that the field was sent, and its value or null.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		// A type error without a field name would read as "expected an
		// object"; this one is given the field's name by the decoder.
		return &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeOf(v)}
	}
	o.Value = &v
	return nil
}

// validFormat checks an order ID format setting: nil (inherit) or a format.
func validFormat(f *string) bool {
	return f == nil || *f == FormatAlnum || *f == FormatNumeric
}

// ResolveFormat returns the order ID format of an order placed by an
// account with its own setting through a site's key: the account's, else
// the site's, else the configuration's default.
func ResolveFormat(account, site *string, def string) string {
	switch {
	case account != nil:
		return *account
	case site != nil:
		return *site
	}
	return def
}

// NumText is a decimal sent as a JSON number or a string, kept as text: it
// is read by the use case, so that a malformed one ("five") is refused with
// an error naming its field, not as invalid JSON.
type NumText string

// UnmarshalJSON keeps a string's content or a number's literal.
func (n *NumText) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*n = NumText(s)
		return nil
	}
	*n = NumText(b)
	return nil
}
