// Package upstream is the client of suppliers' standard reseller APIs
// (the same key + action protocol smmapi serves). It is tolerant of what
// real suppliers send and tells the three outcomes of a request apart:
// answered, refused, and unknown (the request may have been processed).
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"smmapi/service"
)

var _ service.Upstream = (*Client)(nil)

// Client calls suppliers over HTTP.
type Client struct {
	hc     *http.Client
	redact service.Redactor
	obs    Observer
}

// Observer learns how each supplier call went, for metrics. outcome is
// "ok", "not_sent", "refused" or "unknown" (the three of service.Outcome).
type Observer interface {
	SupplierCall(supplier uint64, action, outcome string, took time.Duration)
}

// Option configures New.
type Option func(*Client)

// WithObserver reports every call to o.
func WithObserver(o Observer) Option { return func(c *Client) { c.obs = o } }

// WithSecrets redacts secrets (the internal token, the secrets key) from
// whatever a supplier answers, beside the supplier's own key.
func WithSecrets(secrets ...string) Option {
	return func(c *Client) { c.redact = service.NewRedactor(secrets...) }
}

// New returns a client whose every call is bounded by timeout. Whatever a
// supplier answers reaches the rest of smmapi with the supplier's own key
// (and the secrets of WithSecrets) replaced by "[redacted]".
func New(timeout time.Duration, opts ...Option) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.ResponseHeaderTimeout = timeout
	c := &Client{redact: service.NewRedactor(), hc: &http.Client{Timeout: timeout, Transport: tr,
		// Never follow a redirect of a POST: Go would turn it into a GET
		// without the body; a supplier that redirects is misconfigured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// maxAnswer bounds what is read from a supplier (a services list can be big).
const maxAnswer = 32 << 20

// call POSTs form to the supplier and returns the raw JSON answer, redacted
// (see New). Errors are *service.UpstreamError with the outcome classified
// and the message redacted.
func (c *Client) call(ctx context.Context, sup service.SupplierEndpoint, form url.Values) (body []byte, err error) {
	red := c.redact.With(sup.Key)
	defer func() {
		if ue, ok := err.(*service.UpstreamError); ok {
			ue.Message = red.String(ue.Message)
		}
	}()
	if c.obs != nil {
		// Observed here, at the one exchange every action goes through; an
		// answer an action then cannot read (add without an ID) counts as
		// ok here and shows as a parked order instead.
		defer func(start time.Time, action string) {
			c.obs.SupplierCall(sup.ID, action, outcomeName(err), time.Since(start))
		}(time.Now(), form.Get("action"))
	}
	form.Set("key", sup.Key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sup.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &service.UpstreamError{Outcome: service.OutcomeNotSent, Message: "bad supplier URL"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if notSent(err) {
			return nil, &service.UpstreamError{Outcome: service.OutcomeNotSent, Message: "supplier unreachable: " + short(err)}
		}
		return nil, &service.UpstreamError{Outcome: service.OutcomeUnknown, Message: "no answer from supplier: " + short(err)}
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, &service.UpstreamError{Outcome: service.OutcomeUnknown, Message: "answer cut off: " + short(err)}
	}
	body = red.Bytes(bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\ufeff"))))
	// The status is read before any {"error":…} body: smmapi itself (and
	// many panels) answer 429, 503 and 500 with one, and reading those as
	// refusals parked retryable orders in "error" and called a 500, which
	// may come after the order was written, a plain refusal.
	switch {
	case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable ||
		resp.StatusCode == http.StatusGatewayTimeout || resp.StatusCode == http.StatusTooManyRequests:
		// A proxy or the supplier's throttle answered: the request did not
		// reach its order logic.
		return nil, &service.UpstreamError{Outcome: service.OutcomeNotSent, Message: "supplier busy: " + resp.Status + withText(body)}
	case resp.StatusCode >= 500:
		return nil, &service.UpstreamError{Outcome: service.OutcomeUnknown, Message: "supplier answered " + resp.Status + withText(body)}
	}
	if msg, ok := errorText(body); ok {
		return nil, &service.UpstreamError{Outcome: service.OutcomeRefused, Message: msg, OutOfFunds: outOfFunds(msg)}
	}
	switch {
	case resp.StatusCode >= 300:
		return nil, &service.UpstreamError{Outcome: service.OutcomeUnknown, Message: "supplier answered " + resp.Status}
	case !json.Valid(body):
		return nil, &service.UpstreamError{Outcome: service.OutcomeUnknown, Message: "supplier answer is not JSON"}
	}
	return body, nil
}

// outcomeName is the metric label of a call's error.
func outcomeName(err error) string {
	ue, ok := err.(*service.UpstreamError)
	switch {
	case err == nil:
		return "ok"
	case !ok || ue.Outcome == service.OutcomeUnknown:
		return "unknown"
	case ue.Outcome == service.OutcomeNotSent:
		return "not_sent"
	}
	return "refused"
}

// notSent reports errors that happened before the request left: dialing,
// DNS, TLS handshake. Only those are safe to retry blindly.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

func short(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// errorText finds {"error": "..."} (or a translation-key string) in a body.
func errorText(body []byte) (string, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return "", false
	}
	raw, ok := obj["error"]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			s = "error"
		}
		return s, true
	}
	return string(raw), true
}

// outOfFunds recognises "not enough funds" in the texts and translation keys
// suppliers use (neworder.error.not_enough_funds, "Not enough funds on balance").
func outOfFunds(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "funds") || strings.Contains(m, "balance") && strings.Contains(m, "not enough")
}

// flexString reads a JSON string or number as text ("123" or 123).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexString(strings.TrimSpace(s))
		return nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		if string(b) == "null" {
			*f = ""
			return nil
		}
		return fmt.Errorf("not a string or number: %s", b)
	}
	*f = flexString(n.String())
	return nil
}

// Add places an order upstream and returns the supplier's order ID.
func (c *Client) Add(ctx context.Context, sup service.SupplierEndpoint, params map[string]string) (string, error) {
	form := url.Values{"action": {"add"}}
	for k, v := range params {
		form.Set(k, v)
	}
	body, err := c.call(ctx, sup, form)
	if err != nil {
		return "", err
	}
	var a struct {
		Order flexString `json:"order"`
	}
	if json.Unmarshal(body, &a) != nil || a.Order == "" || a.Order == "0" {
		// It answered 200 without an ID: it may have placed the order.
		return "", &service.UpstreamError{Outcome: service.OutcomeUnknown, Message: "answer without an order ID: " + clip(body)}
	}
	return string(a.Order), nil
}

// Status asks the statuses of up to 100 supplier order IDs in one call.
func (c *Client) Status(ctx context.Context, sup service.SupplierEndpoint, ids []string) (map[string]service.UpstreamStatus, error) {
	body, err := c.call(ctx, sup, url.Values{"action": {"status"}, "orders": {strings.Join(ids, ",")}})
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &service.UpstreamError{Outcome: service.OutcomeUnknown, Message: "status answer is not an object"}
	}
	out := make(map[string]service.UpstreamStatus, len(raw))
	for id, r := range raw {
		out[strings.TrimSpace(id)] = parseStatus(r)
	}
	return out, nil
}

// parseStatus reads one status object tolerantly.
func parseStatus(r json.RawMessage) service.UpstreamStatus {
	var s struct {
		Status     flexString      `json:"status"`
		StartCount flexString      `json:"start_count"`
		Remains    flexString      `json:"remains"`
		Charge     flexString      `json:"charge"`
		Currency   flexString      `json:"currency"`
		Error      *string         `json:"error"`
		Posts      flexString      `json:"posts"`
		Orders     json.RawMessage `json:"orders"`
	}
	if err := json.Unmarshal(r, &s); err != nil {
		return service.UpstreamStatus{Error: "unreadable status"}
	}
	if s.Error != nil {
		return service.UpstreamStatus{Error: *s.Error}
	}
	st := service.UpstreamStatus{Status: service.ParseSupplierStatus(string(s.Status)), Text: string(s.Status)}
	if st.Status == "" && service.ParseSupplierSubStatus(st.Text) == "" {
		st.Error = "unknown status " + strconv.Quote(string(s.Status))
	}
	st.Posts, st.HasPosts = count(s.Posts)
	var orders []flexString // a subscription's children: strings or numbers
	if len(s.Orders) > 0 && json.Unmarshal(s.Orders, &orders) == nil {
		for _, o := range orders {
			if o != "" {
				st.Orders = append(st.Orders, string(o))
			}
		}
	}
	st.StartCount, st.HasStartCount = count(s.StartCount)
	st.Remains, st.HasRemains = count(s.Remains)
	st.Charge, st.Currency = string(s.Charge), string(s.Currency)
	return st
}

// count reads "157", "157.0" or 157; negatives and garbage are absent.
func count(f flexString) (int64, bool) {
	s := strings.TrimSpace(string(f))
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, true
	}
	if fl, err := strconv.ParseFloat(s, 64); err == nil && fl >= 0 && fl < 1e15 {
		return int64(fl), true
	}
	return 0, false
}

// Refill asks the supplier to refill one of its orders; it answers the
// supplier's refill ID.
func (c *Client) Refill(ctx context.Context, sup service.SupplierEndpoint, order string) (string, error) {
	body, err := c.call(ctx, sup, url.Values{"action": {"refill"}, "order": {order}})
	if err != nil {
		return "", err
	}
	var a struct {
		Refill flexString `json:"refill"`
	}
	if json.Unmarshal(body, &a) != nil || a.Refill == "" {
		return "", &service.UpstreamError{Outcome: service.OutcomeUnknown, Message: "refill answer without an ID: " + clip(body)}
	}
	return string(a.Refill), nil
}

// RefillStatus asks a refill's status ("Completed", "Rejected", …).
func (c *Client) RefillStatus(ctx context.Context, sup service.SupplierEndpoint, refill string) (string, error) {
	body, err := c.call(ctx, sup, url.Values{"action": {"refill_status"}, "refill": {refill}})
	if err != nil {
		return "", err
	}
	var a struct {
		Status flexString `json:"status"`
	}
	if json.Unmarshal(body, &a) != nil {
		return "", &service.UpstreamError{Outcome: service.OutcomeUnknown, Message: "unreadable refill status"}
	}
	return string(a.Status), nil
}

// Cancel asks the supplier to cancel one of its orders. The refund waits for
// the supplier to report the order Canceled or Partial.
func (c *Client) Cancel(ctx context.Context, sup service.SupplierEndpoint, order string) error {
	body, err := c.call(ctx, sup, url.Values{"action": {"cancel"}, "orders": {order}})
	if err != nil {
		return err
	}
	// [{"order":"x","cancel":1}] or [{"order":"x","cancel":{"error":"…"}}] or {"cancel":1}
	var list []struct {
		Cancel json.RawMessage `json:"cancel"`
	}
	if json.Unmarshal(body, &list) == nil && len(list) > 0 {
		if msg, ok := errorText(list[0].Cancel); ok {
			return &service.UpstreamError{Outcome: service.OutcomeRefused, Message: msg}
		}
	}
	return nil
}

// Balance asks the supplier's balance, as it writes it.
func (c *Client) Balance(ctx context.Context, sup service.SupplierEndpoint) (json.RawMessage, error) {
	return c.call(ctx, sup, url.Values{"action": {"balance"}})
}

// Services returns the supplier's live catalog as it sends it.
func (c *Client) Services(ctx context.Context, sup service.SupplierEndpoint) (json.RawMessage, error) {
	return c.call(ctx, sup, url.Values{"action": {"services"}})
}

func clip(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// withText adds a body's {"error":…} text to a message, when it has one.
func withText(body []byte) string {
	if msg, ok := errorText(body); ok {
		return ": " + clip([]byte(msg))
	}
	return ""
}
