package api

// The hot answers of the public API (status, balance, add, the error body)
// are appended by hand into a pooled buffer instead of going through
// encoding/json's reflection: a 100-ID status spent a fifth of its CPU in
// reflective marshalling before this. encode_test.go pins every byte
// against encoding/json.

import (
	"encoding/json"
	"strconv"

	"smmapi/service"
)

// appendAnswer appends v when it is one of the hot answers; ok is false for
// anything else, which encoding/json writes.
func appendAnswer(b []byte, v any) (_ []byte, ok bool) {
	switch v := v.(type) {
	case service.OrderStatus:
		return appendOrderStatus(b, v), true
	case service.StatusList:
		return appendStatusList(b, v), true
	case service.BalanceResult:
		b = append(b, `{"balance":"`...)
		b = v.Balance.AppendText(b)
		b = append(b, `","currency":`...)
		b = appendJSONString(b, v.Currency)
		return append(b, '}'), true
	case service.AddResult:
		b = append(b, `{"order":`...)
		return append(appendOrderRef(b, v.Order), '}'), true
	case service.ItemError:
		return appendItemError(b, v.Error), true
	}
	return b, false
}

// appendStatusList writes a multi-status answer: one object whose keys keep
// the order the IDs were sent in.
func appendStatusList(b []byte, l service.StatusList) []byte {
	b = append(b, '{')
	for i, e := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, e.ID)
		b = append(b, ':')
		if e.Order != nil {
			b = appendOrderStatus(b, *e.Order)
		} else {
			b = appendItemError(b, e.Error)
		}
	}
	return append(b, '}')
}

// appendOrderStatus writes one order's status object, fields in the wire's
// order; runs last, on drip-feed orders only.
func appendOrderStatus(b []byte, s service.OrderStatus) []byte {
	if s.Sub {
		return appendSubStatus(b, s)
	}
	b = append(b, `{"charge":"`...)
	b = s.Charge.AppendText(b)
	b = append(b, `","start_count":"`...)
	b = strconv.AppendInt(b, s.StartCount, 10)
	b = append(b, `","status":`...)
	b = appendJSONString(b, string(s.Status))
	b = append(b, `,"remains":"`...)
	b = strconv.AppendInt(b, s.Remains, 10)
	b = append(b, `","currency":`...)
	b = appendJSONString(b, s.Currency)
	if s.HasRuns {
		b = append(b, `,"runs":"`...)
		b = strconv.AppendInt(b, s.Runs, 10)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendSubStatus writes a subscription's status object: charge, status,
// expiry (null when none), posts, the children oldest first, currency.
func appendSubStatus(b []byte, s service.OrderStatus) []byte {
	b = append(b, `{"charge":"`...)
	b = s.Charge.AppendText(b)
	b = append(b, `","status":`...)
	b = appendJSONString(b, string(s.Status))
	b = append(b, `,"expiry":`...)
	if s.Expiry == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, s.Expiry)
	}
	b = append(b, `,"posts":"`...)
	b = strconv.AppendInt(b, s.Posts, 10)
	b = append(b, `","orders":[`...)
	for i, r := range s.Orders {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOrderRef(b, r)
	}
	b = append(b, `],"currency":`...)
	b = appendJSONString(b, s.Currency)
	return append(b, '}')
}

func appendOrderRef(b []byte, r service.OrderRef) []byte {
	if r.Numeric {
		return append(b, r.ID...)
	}
	return appendJSONString(b, r.ID)
}

func appendItemError(b []byte, msg string) []byte {
	b = append(b, `{"error":`...)
	b = appendJSONString(b, msg)
	return append(b, '}')
}

// appendJSONString appends s as encoding/json writes it: plain printable
// ASCII is copied, anything else (quotes, controls, <>&, non-ASCII) goes
// through json.Marshal so the bytes stay identical to the reflective path.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
