package service

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// MaxListIDs bounds orders/refills lists on every action that takes them.
const MaxListIDs = 100

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewOrderID returns a random 10-character [A-Za-z0-9] order ID from the
// system's cryptographic source, uniform over the alphabet.
func NewOrderID() (string, error) {
	var out [10]byte
	var buf [32]byte
	n := 0
	for n < len(out) {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("order id: %w", err)
		}
		for _, b := range buf {
			// 248 = 4 × 62: rejecting above it keeps every character equally likely.
			if b < 248 && n < len(out) {
				out[n] = alnum[b%62]
				n++
			}
		}
	}
	return string(out[:]), nil
}

// Order ID formats of an account.
const (
	FormatAlnum   = "alnum"
	FormatNumeric = "numeric"
)

// Numeric order IDs are 10 digits that fit a signed 32-bit INT column, as
// SmartPanel-family children store them.
const (
	minNumericID = 1_000_000_000
	maxNumericID = 2_147_483_647
)

// NewOrderIDIn returns a new order ID in format: NewOrderID, or a uniform
// random number in [1000000000, 2147483647] from the same source. Both
// formats share one unique column, so an ID is unique across them.
func NewOrderIDIn(format string) (string, error) {
	if format != FormatNumeric {
		return NewOrderID()
	}
	n, err := rand.Int(rand.Reader, big.NewInt(maxNumericID-minNumericID+1))
	if err != nil {
		return "", fmt.Errorf("order id: %w", err)
	}
	return strconv.FormatInt(n.Int64()+minNumericID, 10), nil
}

// numericID reports whether id is an ID of the numeric format as NewOrderIDIn
// writes it: 10 digits in [1000000000, 2147483647], no sign, no padding.
func numericID(id string) bool {
	if len(id) != 10 {
		return false
	}
	n, err := strconv.ParseUint(id, 10, 32)
	return err == nil && n >= minNumericID && n <= maxNumericID
}

// OrderRef is an order ID as an answer carries it as a value: a JSON number
// for an account whose orders are numeric (typed clients — PHP int
// parameters under strict_types, parseInt, pydantic int — need one), else
// the string as sent, byte for byte.
type OrderRef struct {
	ID      string
	Numeric bool
}

// refFor returns id as acct's answers carry it: a number only when the
// account is numeric and id is a numeric-format ID (an older alphanumeric
// order of an account switched later stays a string).
func refFor(acct Account, id string) OrderRef {
	return OrderRef{ID: id, Numeric: acct.OrderIDFormat == FormatNumeric && numericID(id)}
}

// MarshalJSON writes the ID as a number or a string.
func (r OrderRef) MarshalJSON() ([]byte, error) {
	if r.Numeric {
		return []byte(r.ID), nil
	}
	return json.Marshal(r.ID)
}

// parseIDList splits a comma list: spaces trimmed, empty items dropped,
// repeats answered once at their first position. More than MaxListIDs
// distinct IDs, or none, is an incorrect request.
func parseIDList(s string) ([]string, error) {
	parts := strings.Split(s, ",")
	out := make([]string, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		if len(out) > MaxListIDs {
			return nil, errIncorrectRequest
		}
	}
	if len(out) == 0 {
		return nil, errIncorrectRequest
	}
	return out, nil
}

// plausibleOrderIDs keeps the IDs worth looking up.
func plausibleOrderIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if plausibleOrderID(id) {
			out = append(out, id)
		}
	}
	return out
}

// plausibleOrderID filters out what cannot be an order ID before a lookup.
func plausibleOrderID(id string) bool {
	if len(id) == 0 || len(id) > 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(alnum, id[i]) < 0 {
			return false
		}
	}
	return true
}

// parseTicketID reads a refill ID; anything else reads as unknown.
func parseTicketID(s string) (uint64, bool) {
	id, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return id, err == nil && id > 0
}

// ItemError is a per-item error inside a list answer: {"error":"..."}; the
// public API's own error body has the same shape.
type ItemError struct {
	Error string `json:"error"`
}
