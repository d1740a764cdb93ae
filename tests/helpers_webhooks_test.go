package tests

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for webhooks: a receiver on loopback that checks what smmapi
// sends with its own HMAC code, and servers that may reach it.

// hookStart starts smmapi on a fresh env that can seal secrets (fulEnv) with loopback
// allowed for hooks and short back-off; extra settings follow.
func hookStart(t *testing.T, b Backend, extra ...string) (*Env, *Server) {
	t.Helper()
	env := fulEnv(t, b)
	env.Vars["SMMAPI_WEBHOOKS_ALLOW_PRIVATE"] = "127.0.0.0/8"
	env.Vars["SMMAPI_WEBHOOKS_BACKOFF"] = "100ms"
	env.Vars["SMMAPI_WEBHOOKS_MAX_BACKOFF"] = "400ms"
	env.Vars["SMMAPI_WEBHOOKS_TIMEOUT"] = "2s"
	s := MustStart(t, env, append([]string{"SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0"}, extra...)...)
	return env, s
}

// hookDelivery is one request the receiver got.
type hookDelivery struct {
	EventID uint64
	Type    string
	Order   string
	Body    []byte
	Header  http.Header
	Signers []int // indexes of the receiver's secrets that signed it
	At      time.Time
}

// hookReceiver is a webhook receiver. answer writes each answer knowing
// how many times this event was received before (0 the first time).
type hookReceiver struct {
	*httptest.Server
	answer func(w http.ResponseWriter, seen int) // nil: 200

	mu         sync.Mutex
	secrets    []string
	got        []hookDelivery
	seen       map[uint64]int    // event ID → times received
	ok         map[uint64]bool   // event ID → answered 2xx once
	lastOK     map[string]uint64 // order → last event ID answered 2xx
	outOfOrder []string
	badSig     []string
}

func newHookReceiver(t *testing.T, answer func(w http.ResponseWriter, seen int)) *hookReceiver {
	t.Helper()
	r := &hookReceiver{answer: answer, seen: map[uint64]int{}, ok: map[uint64]bool{}, lastOK: map[string]uint64{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// trust adds a secret the receiver verifies signatures with.
func (r *hookReceiver) trust(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, secret)
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var ev struct {
		ID   uint64 `json:"id"`
		Type string `json:"type"`
		Data struct {
			Order json.RawMessage `json:"order"`
		} `json:"data"`
	}
	json.Unmarshal(body, &ev)
	order := strings.Trim(string(ev.Data.Order), `"`)
	d := hookDelivery{EventID: ev.ID, Type: ev.Type, Order: order, Body: body, Header: req.Header.Clone(), At: time.Now()}

	r.mu.Lock()
	d.Signers = hookVerify(req.Header.Get("Smmapi-Signature"), body, r.secrets)
	if len(d.Signers) == 0 {
		r.badSig = append(r.badSig, fmt.Sprintf("event %d: %q", ev.ID, req.Header.Get("Smmapi-Signature")))
	}
	if h := req.Header.Get("Smmapi-Event-Id"); h != strconv.FormatUint(ev.ID, 10) {
		r.badSig = append(r.badSig, fmt.Sprintf("event %d: Smmapi-Event-Id %q", ev.ID, h))
	}
	seen := r.seen[ev.ID]
	r.seen[ev.ID]++
	r.got = append(r.got, d)
	r.mu.Unlock()

	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if r.answer != nil {
		r.answer(rw, seen)
	}
	if rw.status >= 200 && rw.status < 300 {
		r.mu.Lock()
		// A newer event of this order was answered 2xx before this one's
		// first 2xx: out of order (a redelivery of an answered one is not).
		if last := r.lastOK[order]; last > ev.ID && !r.ok[ev.ID] {
			r.outOfOrder = append(r.outOfOrder, fmt.Sprintf("order %s: event %d after %d", order, ev.ID, last))
		}
		r.ok[ev.ID] = true
		r.lastOK[order] = max(r.lastOK[order], ev.ID)
		r.mu.Unlock()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.ResponseWriter.(http.Hijacker).Hijack()
}

// hookVerify checks "t=<unix>,v1=<hex>,…" as a receiver would, without
// smmapi's code: the time within 5 minutes, each v1 the HMAC-SHA256 of
// "<t>.<body>" by one of secrets. It returns the indexes of the secrets
// that signed (nil when any v1 matches none).
func hookVerify(header string, body []byte, secrets []string) []int {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(t, 0)).Abs() > 5*time.Minute || len(sigs) == 0 {
		return nil
	}
	var signers []int
	for _, sig := range sigs {
		found := false
		for i, s := range secrets {
			m := hmac.New(sha256.New, []byte(s))
			m.Write([]byte(ts + "."))
			m.Write(body)
			if hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(sig)) {
				signers, found = append(signers, i), true
			}
		}
		if !found {
			return nil
		}
	}
	return signers
}

// snapshot returns what the receiver got so far.
func (r *hookReceiver) snapshot() (got []hookDelivery, dups int, outOfOrder, badSig []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.seen {
		dups += n - 1
	}
	return append([]hookDelivery(nil), r.got...), dups, append([]string(nil), r.outOfOrder...), append([]string(nil), r.badSig...)
}

// distinct returns how many events were answered 2xx so far.
func (r *hookReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ok)
}

// mustHook registers url for the account and returns the secret.
func mustHook(t *testing.T, s *Server, env *Env, acc Account, url string, events ...string) string {
	t.Helper()
	body := map[string]any{"url": url}
	if len(events) > 0 {
		body["events"] = events
	}
	out := s.MustAdmin(t, http.StatusCreated, "PUT", "/internal/v1/users/"+acc.ID+"/webhook", body)
	secret := fmt.Sprint(out["secret"])
	env.Secret(secret)
	return secret
}

// hookDeliveries lists an account's delivery log (first page of 500).
func hookDeliveries(t *testing.T, s *Server, userID, status string) []map[string]any {
	t.Helper()
	p := "/internal/v1/users/" + userID + "/webhook/deliveries?limit=500"
	if status != "" {
		p += "&status=" + status
	}
	items, _ := mustProvList(t, s, p)
	return items
}

// hookNum reads a number of a decoded list item (json.Number) or object
// (float64); anything else is -1.
func hookNum(v any) int64 {
	n, err := strconv.ParseFloat(fmt.Sprint(v), 64)
	if err != nil {
		return -1
	}
	return int64(n)
}
