package service

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. The api package maps each to an HTTP status in one place.
const (
	ErrInvalid           = "invalid"
	ErrUnauthorized      = "unauthorized"
	ErrNotFound          = "not_found"
	ErrConflict          = "conflict"
	ErrInsufficientFunds = "insufficient_funds"
	ErrRateLimited       = "rate_limited"
	ErrUnavailable       = "unavailable"
	ErrInternal          = "internal"
)

// Error is the one error type clients see. Message is the exact wire text
// where the spec fixes one; internal causes never reach it.
type Error struct {
	Code    string
	Message string
	// RetryAfter is set on rate_limited errors.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, or ErrInternal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return ErrInternal
}

// ErrorMessage returns the client-facing message of err, or "Internal error".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error"
}

// Public API error texts, fixed by the spec byte for byte.
const (
	MsgIncorrectRequest = "Incorrect request"
	MsgInvalidKey       = "Invalid API key"
	MsgIncorrectService = "Incorrect service ID"
	MsgBadLink          = "Bad link"
	MsgNotEnoughFunds   = "Not enough funds on balance"
	MsgActiveOrder      = "You have active order with this link. Please wait until order being completed."
	MsgIncorrectOrder   = "Incorrect order ID"
	MsgRefillDisabled   = "Refill is disabled for this service"
	MsgRefillIneligible = "Order is not eligible for refill"
	MsgRefillRequested  = "Refill already requested for this order"
	MsgRefillNotFound   = "Refill not found"
	MsgCancelDisabled   = "Cancel is disabled for this service"
	MsgCancelIneligible = "Order is not eligible for cancel"
	MsgCancelRequested  = "Cancel already requested for this order"
	MsgTooManyRequests  = "Too many requests"
	MsgUnavailable      = "Service temporarily unavailable"
)

// errIncorrectRequest is the public API's catch-all for malformed input.
var errIncorrectRequest = &Error{Code: ErrInvalid, Message: MsgIncorrectRequest}
