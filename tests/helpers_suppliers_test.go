package tests

// A scripted supplier: an httptest.Server speaking the standard reseller
// API (key + action) that fulfilment tests point smmapi at. The test sets
// each order's status, start count and remains, switches faults on for the
// next requests of an action or for all of them, and reads back what the
// supplier received (add requests above all, to prove no order is placed
// twice).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fulFault is what the fake does to a request instead of answering it well.
type fulFault int

// The faults a test can switch on.
const (
	fulNone    fulFault = iota
	fulDelay            // answer normally, but only after Delay (past the client's timeout)
	ful500              // HTTP 500 with a plain text body, after doing nothing
	ful500JSON          // HTTP 500 with {"error":"Internal error"} (smmapi's own shape)
	ful502              // HTTP 502 from a proxy in front of the supplier
	ful503              // HTTP 503 {"error":"Service temporarily unavailable"}
	ful429              // HTTP 429 {"error":"Too many requests"}
	fulNoFunds          // {"error":"neworder.error.not_enough_funds"}
	fulNoID             // add: HTTP 200 {"status":"ok"}, the order placed but no ID given
	fulEchoKey          // {"error":"Invalid key <the key it was sent>"}, as careless suppliers do
)

// fulFakeOrder is one order at the fake. StartCount and Remains are sent as
// given: a string, a JSON number, or nil to leave the field out.
type fulFakeOrder struct {
	ID         string
	Service    string
	Link       string
	Quantity   string
	Form       map[string]string
	Status     string
	StartCount any
	Remains    any
	Lost       bool // status answers {"error":"Incorrect order ID"}
	// Extra fields of its status answer (a subscription's posts, orders).
	Extra map[string]any
	asked int // status requests that named it
}

// fulFake is the scripted supplier.
type fulFake struct {
	srv *httptest.Server
	URL string // the API URL to configure in smmapi ("…/api/v2")
	Key string

	mu sync.Mutex
	// Delay is how long fulDelay holds an answer.
	Delay time.Duration
	// NumericIDs answers add and refill with JSON numbers, not strings.
	NumericIDs bool
	// Balance and Services are what the balance and services actions answer.
	Balance  string
	Services string
	// DefaultStatus is the status of a new order.
	DefaultStatus string

	next     map[string][]fulFault // one-shot faults per action ("" = any)
	all      fulFault              // a fault for every request
	orders   map[string]*fulFakeOrder
	ids      []string // in the order the adds arrived
	adds     int      // add requests received, whatever became of them
	nextID   int64
	refills  map[string]string // refill ID → status
	refillOf map[string]string // refill ID → order ID
	cancels  []string
	calls    map[string]int // requests per action
	maxBatch int            // most IDs seen in one status request
	badKeys  int
}

// newFulFake starts a fake supplier; it stops when the test ends.
func newFulFake(t *testing.T) *fulFake {
	t.Helper()
	f := &fulFake{
		Key:           randHex(16),
		Delay:         3 * time.Second,
		Balance:       `{"balance":"1234.5678","currency":"USD"}`,
		Services:      `[{"service":101,"name":"IG followers","type":"Default","category":"Instagram","rate":"0.90","min":"10","max":"100000","refill":true,"cancel":true},{"service":"102","name":"IG likes","type":"Default","category":"Instagram","rate":0.1,"min":10,"max":5000}]`,
		DefaultStatus: "Pending",
		next:          map[string][]fulFault{},
		orders:        map[string]*fulFakeOrder{},
		nextID:        9000,
		refills:       map[string]string{},
		refillOf:      map[string]string{},
		calls:         map[string]int{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL + "/api/v2"
	t.Cleanup(f.srv.Close)
	return f
}

// Next makes the next requests of action (or of any action, "") fail with
// faults, one each, in order.
func (f *fulFake) Next(action string, faults ...fulFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next[action] = append(f.next[action], faults...)
}

// All makes every request fail with fault (fulNone switches it off).
func (f *fulFake) All(fault fulFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.all = fault
}

// Set changes an order as the supplier reports it.
func (f *fulFake) Set(id, status string, startCount, remains any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[id]
	if o == nil {
		panic("fake supplier: no order " + id)
	}
	o.Status, o.StartCount, o.Remains = status, startCount, remains
}

// SetAll changes every order.
func (f *fulFake) SetAll(status string, startCount, remains any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.orders {
		o.Status, o.StartCount, o.Remains = status, startCount, remains
	}
}

// Lose makes the supplier forget an order (lost=true) or find it again.
func (f *fulFake) Lose(id string, lost bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[id].Lost = lost
}

// SetRefill changes a refill's status.
func (f *fulFake) SetRefill(id, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refills[id] = status
}

// Numeric makes add and refill answer IDs as JSON numbers (on) or strings.
func (f *fulFake) Numeric(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.NumericIDs = on
}

// SetKey changes the key the fake accepts.
func (f *fulFake) SetKey(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Key = key
}

// Placed is how many orders the fake created (an add that failed before
// doing anything creates none; a late or ID-less answer does create one).
func (f *fulFake) Placed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

// Adds is how many add requests arrived, answered or not.
func (f *fulFake) Adds() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.adds
}

// Calls is how many requests of action arrived.
func (f *fulFake) Calls(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[action]
}

// Order returns a copy of an order by the fake's ID.
func (f *fulFake) Order(id string) (fulFakeOrder, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[id]
	if !ok {
		return fulFakeOrder{}, false
	}
	return *o, true
}

// Asked is how many status requests named order id.
func (f *fulFake) Asked(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.orders[id]; o != nil {
		return o.asked
	}
	return 0
}

// Links returns the link of every add that created an order, in arrival order.
func (f *fulFake) Links() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.ids))
	for i, id := range f.ids {
		out[i] = f.orders[id].Link
	}
	return out
}

// Cancels returns the order IDs the supplier was asked to cancel.
func (f *fulFake) Cancels() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cancels...)
}

// MaxBatch is the most order IDs one status request carried.
func (f *fulFake) MaxBatch() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxBatch
}

// BadKeys is how many requests came with a wrong key.
func (f *fulFake) BadKeys() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.badKeys
}

// fault takes the fault for this request: the one for all, else the next
// one-shot for the action, else the next one-shot for any action.
func (f *fulFake) fault(action string) fulFault {
	if f.all != fulNone {
		return f.all
	}
	for _, k := range []string{action, ""} {
		if q := f.next[k]; len(q) > 0 {
			f.next[k] = q[1:]
			return q[0]
		}
	}
	return fulNone
}

func (f *fulFake) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		fulWrite(w, http.StatusOK, `{"error":"Incorrect request"}`)
		return
	}
	action := r.Form.Get("action")
	f.mu.Lock()
	f.calls[action]++
	if r.Form.Get("key") != f.Key {
		f.badKeys++
		f.mu.Unlock()
		fulWrite(w, http.StatusOK, `{"error":"Invalid API key"}`)
		return
	}
	if action == "add" {
		f.adds++
	}
	fault := f.fault(action)
	switch fault {
	case ful500:
		f.mu.Unlock()
		fulWrite(w, http.StatusInternalServerError, "Internal Server Error")
		return
	case ful500JSON:
		f.mu.Unlock()
		fulWrite(w, http.StatusInternalServerError, `{"error":"Internal error"}`)
		return
	case ful502:
		f.mu.Unlock()
		fulWrite(w, http.StatusBadGateway, "<html><body>502 Bad Gateway</body></html>")
		return
	case ful503:
		f.mu.Unlock()
		fulWrite(w, http.StatusServiceUnavailable, `{"error":"Service temporarily unavailable"}`)
		return
	case ful429:
		f.mu.Unlock()
		fulWrite(w, http.StatusTooManyRequests, `{"error":"Too many requests"}`)
		return
	case fulNoFunds:
		f.mu.Unlock()
		fulWrite(w, http.StatusOK, `{"error":"neworder.error.not_enough_funds"}`)
		return
	case fulEchoKey:
		f.mu.Unlock()
		fulWrite(w, http.StatusOK, fulJSON(map[string]string{"error": "Invalid key " + r.Form.Get("key")}))
		return
	}
	body := f.answer(action, r)
	if fault == fulNoID && action == "add" {
		body = `{"status":"ok"}`
	}
	f.mu.Unlock()
	if fault == fulDelay {
		// The work is done (an order exists) but the answer comes too late.
		select {
		case <-time.After(f.delay()):
		case <-r.Context().Done():
			return
		}
	}
	fulWrite(w, http.StatusOK, body)
}

func (f *fulFake) delay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Delay
}

// answer does the action and returns the body; f.mu is held.
func (f *fulFake) answer(action string, r *http.Request) string {
	switch action {
	case "add":
		f.nextID++
		id := strconv.FormatInt(f.nextID, 10)
		form := map[string]string{}
		for k := range r.Form {
			if k != "key" {
				form[k] = r.Form.Get(k)
			}
		}
		f.orders[id] = &fulFakeOrder{ID: id, Service: r.Form.Get("service"), Link: r.Form.Get("link"),
			Quantity: r.Form.Get("quantity"), Form: form, Status: f.DefaultStatus, StartCount: "0", Remains: r.Form.Get("quantity")}
		f.ids = append(f.ids, id)
		if f.NumericIDs {
			return `{"order":` + id + `}`
		}
		return `{"order":"` + id + `"}`
	case "status":
		if one := r.Form.Get("order"); one != "" && r.Form.Get("orders") == "" {
			return fulJSON(f.status(one))
		}
		ids := strings.Split(r.Form.Get("orders"), ",")
		f.maxBatch = max(f.maxBatch, len(ids))
		var b strings.Builder
		b.WriteByte('{')
		for i, id := range ids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(fulJSON(strings.TrimSpace(id)) + ":" + fulJSON(f.status(strings.TrimSpace(id))))
		}
		b.WriteByte('}')
		return b.String()
	case "refill":
		o := f.orders[r.Form.Get("order")]
		if o == nil || o.Lost {
			return `{"error":"Incorrect order ID"}`
		}
		id := strconv.Itoa(700 + len(f.refills))
		f.refills[id], f.refillOf[id] = "Pending", o.ID
		if f.NumericIDs {
			return `{"refill":` + id + `}`
		}
		return `{"refill":"` + id + `"}`
	case "refill_status":
		st, ok := f.refills[r.Form.Get("refill")]
		if !ok {
			return `{"error":"Refill not found"}`
		}
		return fulJSON(map[string]string{"status": st})
	case "cancel":
		ids := r.Form.Get("orders")
		if ids == "" {
			ids = r.Form.Get("order")
		}
		var out []map[string]any
		for _, id := range strings.Split(ids, ",") {
			if o := f.orders[id]; o == nil || o.Lost {
				out = append(out, map[string]any{"order": id, "cancel": map[string]string{"error": "Incorrect order ID"}})
				continue
			}
			f.cancels = append(f.cancels, id)
			out = append(out, map[string]any{"order": id, "cancel": 1})
		}
		return fulJSON(out)
	case "balance":
		return f.Balance
	case "services":
		return f.Services
	}
	return `{"error":"Incorrect request"}`
}

// status is one order's status object; f.mu is held.
func (f *fulFake) status(id string) any {
	o := f.orders[id]
	if o == nil || o.Lost {
		return map[string]string{"error": "Incorrect order ID"}
	}
	o.asked++
	m := map[string]any{"charge": "0.1000", "status": o.Status, "currency": "USD"}
	if o.StartCount != nil {
		m["start_count"] = o.StartCount
	}
	if o.Remains != nil {
		m["remains"] = o.Remains
	}
	for k, v := range o.Extra {
		m[k] = v
	}
	return m
}

// Deliver adds a child order (a delivered post) to subscription id at the
// fake: its status answer lists it in orders and counts it in posts. It
// returns the child's ID.
func (f *fulFake) Deliver(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := f.orders[id]
	if sub == nil {
		panic("fake supplier: no order " + id)
	}
	f.nextID++
	cid := strconv.FormatInt(f.nextID, 10)
	f.orders[cid] = &fulFakeOrder{ID: cid, Service: sub.Service, Status: "In progress", StartCount: "0", Remains: "0"}
	if sub.Extra == nil {
		sub.Extra = map[string]any{}
	}
	kids, _ := sub.Extra["orders"].([]any)
	if f.NumericIDs {
		sub.Extra["orders"] = append(kids, json.Number(cid))
	} else {
		sub.Extra["orders"] = append(kids, cid)
	}
	sub.Extra["posts"] = strconv.Itoa(len(kids) + 1)
	return cid
}

func fulJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprint("fake supplier: ", err))
	}
	return string(b)
}

func fulWrite(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write([]byte(body))
}

// fulSyncEvery is the sync interval the tests run with (production: 1m).
const fulSyncEvery = "SMMAPI_WORKERS_SYNC_INTERVAL=1s"

// fulEnv is a fresh env that can store supplier keys: in mysql mode it sets
// SMMAPI_SECRETS_KEY; the embedded mode generates one beside the database.
func fulEnv(t *testing.T, b Backend) *Env {
	t.Helper()
	env := MustEnv(t, b)
	if b.MySQLDSN != "" {
		env.Vars["SMMAPI_SECRETS_KEY"] = randHex(32)
		env.Secret(env.Vars["SMMAPI_SECRETS_KEY"])
		// A small pool: these tests run many servers at once against one
		// MariaDB (151 connections) that other suites share.
		env.Vars["SMMAPI_DATABASE_MAX_OPEN_CONNS"] = "8"
	}
	return env
}

// fulRig is smmapi syncing every second, wired to a fake supplier: one
// supplier and a service (rate 8.5000) mapped onto the fake's service 101.
type fulRig struct {
	env  *Env
	s    *Server
	fake *fulFake
	sup  string // supplier ID
	svc  string // our service ID
}

func fulStart(t *testing.T, b Backend, extra ...string) *fulRig {
	t.Helper()
	env := fulEnv(t, b)
	s := MustStart(t, env, append([]string{fulSyncEvery}, extra...)...)
	fake := newFulFake(t)
	env.Secret(fake.Key)
	sup := fulSupplier(t, s, fake.URL, fake.Key)
	svc := s.MustService(t, map[string]any{"supplier_id": fulNum(sup), "supplier_service": "101"})
	return &fulRig{env: env, s: s, fake: fake, sup: sup, svc: svc}
}

// fulSupplier creates a supplier and returns its ID.
func fulSupplier(t *testing.T, s *Server, apiURL, key string) string {
	t.Helper()
	out := s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/suppliers",
		map[string]any{"name": "Upstream", "api_url": apiURL, "api_key": key, "enabled": true})
	return fmt.Sprint(out["id"])
}

// fulNum writes a decimal ID as a JSON number.
func fulNum(id string) json.Number { return json.Number(id) }
