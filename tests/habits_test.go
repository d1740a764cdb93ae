package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// habitReq is one request exactly as a client sends it. enc says where raw
// goes: "query" is a GET with raw as the query string; "form" and "json" a
// POST with raw as the body; "multipart" a POST whose parts are raw's
// name=value pairs (unescaped), in order. query is a POST's query string.
// Placeholders in braces ({key}, {A}, …) are replaced before sending.
type habitReq struct{ name, enc, query, raw, want string }

// habitDo sends h and checks the transport contract: HTTP 200 and JSON,
// whatever the input.
func habitDo(t *testing.T, s *Server, vars *strings.Replacer, h habitReq) Response {
	t.Helper()
	raw, path := vars.Replace(h.raw), "/api/v2"
	if h.query != "" {
		path += "?" + vars.Replace(h.query)
	}
	var req *http.Request
	switch h.enc {
	case "query":
		req = publicReq(t, s, http.MethodGet, "/api/v2?"+raw, "", "")
	case "form":
		req = publicReq(t, s, http.MethodPost, path, "application/x-www-form-urlencoded", raw)
	case "json":
		req = publicReq(t, s, http.MethodPost, path, "application/json", raw)
	case "multipart":
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, pair := range strings.Split(raw, "&") {
			k, v, _ := strings.Cut(pair, "=")
			k, _ = url.QueryUnescape(k)
			v, _ = url.QueryUnescape(v)
			if err := w.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		req = publicReq(t, s, http.MethodPost, path, w.FormDataContentType(), buf.String())
	default:
		t.Fatalf("%s: encoding %q", h.name, h.enc)
	}
	r := Do(t, req)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: HTTP %d, %q: %s", h.name, r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	return r
}

// habitCounts are the rows a refused request must leave alone.
func habitCounts(t *testing.T, env *Env) [3]int {
	t.Helper()
	return [3]int{ordCount(t, env.DB(t), "SELECT COUNT(*) FROM orders"), ordCount(t, env.DB(t), "SELECT COUNT(*) FROM ledger_entries"),
		ordCount(t, env.DB(t), "SELECT COUNT(*) FROM tickets")}
}

// habitMustRows fails unless the rows are want, then checks the ledger
// invariant of a.
func habitMustRows(t *testing.T, env *Env, s *Server, a Account, want [3]int) {
	t.Helper()
	if got := habitCounts(t, env); got != want {
		t.Errorf("rows (orders, ledger, tickets) %v, want %v", got, want)
	}
	mustLedgerMatches(t, s, a.ID)
}

// habitStart starts a server without rate limits on a fresh env, with an
// account holding 1000 and a Default service at rate 1.
func habitStart(t *testing.T, b Backend, name string) (*Env, *Server, Account, string) {
	t.Helper()
	env := MustEnv(t, b)
	s := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
	a := s.MustAccount(t, name, "1000")
	return env, s, a, s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 100000})
}

const incorrect = `{"error":"Incorrect request"}`

// runs and interval as client libraries send "no value": a Node SDK always
// sends runs=undefined&interval=undefined, Python formats None, JavaScript
// null and NaN. Such an order is a plain order; a half-given drip-feed is
// still refused.
func TestHabitsNoValueTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env, s, a, plain := habitStart(t, b, "nodesdk")
		drip := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 100000, "dripfeed": true})
		pending := ordStatusWant("0.1000", "0", "Pending", "100")
		const add = "key={key}&action=add&link=https%3A%2F%2Fx.test%2Fp%2F{n}&quantity=100&"
		before := habitCounts(t, env)
		placed := 0
		for i, h := range []habitReq{
			{"Node SDK", "form", "", add + "service={plain}&runs=undefined&interval=undefined", pending},
			{"Node SDK, drip-feed service", "form", "", add + "service={drip}&runs=undefined&interval=undefined", pending},
			{"Node SDK GET", "query", "", add + "service={plain}&runs=undefined&interval=undefined", pending},
			{"Node SDK multipart", "multipart", "", add + "service={plain}&runs=undefined&interval=undefined", pending},
			{"null", "form", "", add + "service={drip}&runs=null&interval=null", pending},
			{"NaN", "form", "", add + "service={drip}&runs=NaN&interval=NaN", pending},
			{"Python None", "form", "", add + "service={drip}&runs=None&interval=None", pending},
			{"any case, trimmed", "form", "", add + "service={drip}&runs=UNDEFINED&interval=+nUlL+", pending},
			{"zero and a token", "form", "", add + "service={plain}&runs=0&interval=undefined", pending},
			{"empty and a token", "form", "", add + "service={plain}&runs=&interval=None", pending},
			{"JSON null", "json", "", `{"key":"{key}","action":"add","service":{drip},"link":"https://x.test/p/{n}","quantity":100,"runs":null,"interval":null}`, pending},
			{"JSON tokens", "json", "", `{"key":"{key}","action":"add","service":"{drip}","link":"https://x.test/p/{n}","quantity":"100","runs":"undefined","interval":"NaN"}`, pending},
			{"a real drip-feed", "form", "", add + "service={drip}&runs=3&interval=5", ordDripWant("0.3000", "0", "Pending", "300", "0")},
			{"runs without interval", "form", "", add + "service={drip}&runs=3&interval=undefined", incorrect},
			{"interval without runs", "form", "", add + "service={drip}&runs=null&interval=5", incorrect},
			{"drip-feed on a service without it", "form", "", add + "service={plain}&runs=3&interval=5", incorrect},
			{"not a token", "form", "", add + "service={plain}&runs=nil&interval=nil", incorrect},
		} {
			vars := strings.NewReplacer("{key}", a.Key, "{plain}", plain, "{drip}", drip, "{n}", strconv.Itoa(i))
			r := habitDo(t, s, vars, h)
			if h.want == incorrect {
				jsonEqual(t, r, incorrect)
				continue
			}
			id, ok := ordAddID(r)
			if !ok {
				t.Errorf("%s: %s, want an order", h.name, r.Body)
				continue
			}
			placed++
			jsonEqual(t, ordDo(t, s, a.Key, "status", url.Values{"order": {id}}), h.want)
		}
		habitMustRows(t, env, s, a, [3]int{before[0] + placed, before[1] + placed, before[2]})
	})
}

// orders[…] and refills[…] as PHP's http_build_query and Node's qs send
// them, in the query, a form and a multipart body, for every list action;
// answers come in index order.
func TestHabitsBracketLists(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env, s, a, svc := habitStart(t, b, "phpqs")
		ids := map[string]string{}
		for _, n := range []string{"A", "B", "C", "D"} {
			ids[n] = mustAdd(t, s, a.Key, url.Values{"service": {svc}, "link": {"https://x.test/" + n}, "quantity": {"100"}})
		}
		for _, n := range []string{"A", "B"} {
			s.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/orders/"+ids[n], map[string]any{"status": "Completed"})
		}
		one := func(n string) string {
			return string(ordDo(t, s, a.Key, "status", url.Values{"order": {ids[n]}}).Body)
		}
		statusAB := fmt.Sprintf(`{%q:%s,%q:%s}`, ids["A"], one("A"), ids["B"], one("B"))
		vars := strings.NewReplacer("{key}", a.Key, "{A}", ids["A"], "{B}", ids["B"], "{C}", ids["C"], "{D}", ids["D"])
		before := habitCounts(t, env)

		const status = "key={key}&action=status&"
		for _, h := range []habitReq{
			{"PHP http_build_query", "form", "", status + "orders%5B0%5D={A}&orders%5B1%5D={B}", statusAB},
			{"qs, encoded, index order", "form", "", status + "orders%5B1%5D={B}&orders%5B0%5D={A}", statusAB},
			{"qs encode:false", "form", "", status + "orders[1]={B}&orders[0]={A}", statusAB},
			{"qs arrayFormat brackets", "form", "", status + "orders[]={A}&orders[]={B}", statusAB},
			{"Python requests orders[] list", "form", "", status + "orders%5B%5D={A}&orders%5B%5D={B}", statusAB},
			{"[] after the highest index", "form", "", status + "orders[1]={B}&orders[]={C}&orders[0]={A}",
				fmt.Sprintf(`{%q:%s,%q:%s,%q:%s}`, ids["A"], one("A"), ids["B"], one("B"), ids["C"], one("C"))},
			{"repeated index keeps the first", "form", "", status + "orders[0]={A}&orders[0]={C}&orders[1]={B}", statusAB},
			{"GET qs", "query", "", status + "orders[1]={B}&orders[0]={A}", statusAB},
			{"GET PHP", "query", "", status + "orders%5B0%5D={A}&orders%5B1%5D={B}", statusAB},
			{"multipart indexed", "multipart", "", status + "orders[1]={B}&orders[0]={A}", statusAB},
			{"multipart []", "multipart", "", status + "orders[]={A}&orders[]={B}", statusAB},
			{"body list over query plain", "form", "orders={C}", status + "orders[1]={B}&orders[0]={A}", statusAB},
			{"body plain over query list", "form", "orders[0]={C}", status + "orders={A},{B}", statusAB},
			{"mixed in a form", "form", "", status + "orders[]={A}&orders={B}", incorrect},
			{"mixed, encoded", "form", "", status + "orders={B}&orders%5B0%5D={A}", incorrect},
			{"mixed in a query", "query", "", status + "orders={A}&orders[0]={B}", incorrect},
			{"mixed in multipart", "multipart", "", status + "orders[0]={A}&orders={B}", incorrect},
			{"non-integer index", "form", "", status + "orders[x]={A}", incorrect},
			{"nested", "form", "", status + "orders[0][0]={A}", incorrect},
		} {
			r := habitDo(t, s, vars, h)
			jsonEqual(t, r, vars.Replace(h.want))
			if h.want == statusAB {
				if keys := ordKeys(t, r.Body); len(keys) != 2 || keys[0] != ids["A"] || keys[1] != ids["B"] {
					t.Errorf("%s: keys %v, want A then B", h.name, keys)
				}
			}
		}

		// Refused refill, refill_status and cancel lists open no ticket.
		for _, h := range []habitReq{
			{"refill mixed", "form", "", "key={key}&action=refill&orders[]={A}&orders={B}", incorrect},
			{"refill_status mixed", "query", "", "key={key}&action=refill_status&refills=1&refills[0]=2", incorrect},
			{"cancel mixed", "multipart", "", "key={key}&action=cancel&orders[]={C}&orders={D}", incorrect},
			{"cancel bad index", "form", "", "key={key}&action=cancel&orders[one]={C}", incorrect},
		} {
			jsonEqual(t, habitDo(t, s, vars, h), h.want)
		}
		habitMustRows(t, env, s, a, before)

		// refill, then refill_status of its tickets, in index order.
		r := habitDo(t, s, vars, habitReq{"refill", "form", "", "key={key}&action=refill&orders%5B1%5D={B}&orders%5B0%5D={A}", ""})
		var refills []struct {
			Order  string
			Refill json.Number
		}
		if err := json.Unmarshal(r.Body, &refills); err != nil || len(refills) != 2 || refills[0].Order != ids["A"] || refills[1].Order != ids["B"] {
			t.Fatalf("refill answered %s, want A then B", r.Body)
		}
		rvars := strings.NewReplacer("{key}", a.Key, "{R1}", refills[0].Refill.String(), "{R2}", refills[1].Refill.String())
		want := fmt.Sprintf(`[{"refill":%s,"status":"Pending"},{"refill":%s,"status":"Pending"}]`, refills[0].Refill, refills[1].Refill)
		for _, h := range []habitReq{
			{"refill_status PHP", "form", "", "key={key}&action=refill_status&refills%5B1%5D={R2}&refills%5B0%5D={R1}", want},
			{"refill_status qs GET", "query", "", "key={key}&action=refill_status&refills[1]={R2}&refills[0]={R1}", want},
			{"refill_status multipart", "multipart", "", "key={key}&action=refill_status&refills[]={R1}&refills[]={R2}", want},
		} {
			jsonEqual(t, habitDo(t, s, rvars, h), h.want)
		}

		// cancel: C and D answered in index order.
		r = habitDo(t, s, vars, habitReq{"cancel", "multipart", "", "key={key}&action=cancel&orders[1]={D}&orders[0]={C}", ""})
		jsonEqual(t, r, fmt.Sprintf(`[{"order":%q,"cancel":1},{"order":%q,"cancel":1}]`, ids["C"], ids["D"]))
		habitMustRows(t, env, s, a, [3]int{before[0], before[1], before[2] + 4}) // two refill, two cancel tickets
	})
}

// Text that is not UTF-8: "Bad link" for a link (from add, after the key
// and action checks), "Incorrect request" for any other parameter, HTTP 200
// and nothing written, on every backend (MariaDB's utf8mb4 columns refused
// such a link with a 500 before).
func TestHabitsNotUTF8(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env, s, a, svc := habitStart(t, b, "latin1")
		cc := s.MustService(t, map[string]any{"type": "Custom Comments", "rate": "1", "min": 1, "max": 100})
		likes := s.MustService(t, map[string]any{"type": "Comment Likes", "rate": "1", "min": 1, "max": 100000})
		list := s.MustService(t, map[string]any{"type": "Mentions Custom List", "rate": "1", "min": 1, "max": 100})
		vars := strings.NewReplacer("{key}", a.Key, "{svc}", svc, "{cc}", cc, "{likes}", likes, "{list}", list)
		badLink := `{"error":"Bad link"}`
		const add = "key={key}&action=add&"
		before := habitCounts(t, env)
		for _, h := range []habitReq{
			{"form link", "form", "", add + "service={svc}&quantity=100&link=https%3A%2F%2Fx.test%2F%ff%fe", badLink},
			{"form Latin-1 link", "form", "", add + "service={svc}&quantity=100&link=https%3A%2F%2Fx.test%2Fcaf%E9", badLink},
			{"GET link", "query", "", add + "service={svc}&quantity=100&link=https://x.test/%ff%fe", badLink},
			{"multipart link", "multipart", "", add + "service={svc}&quantity=100&link=https%3A%2F%2Fx.test%2F%ff%fe", badLink},
			{"JSON link", "json", "", "{\"key\":\"{key}\",\"action\":\"add\",\"service\":{svc},\"quantity\":100,\"link\":\"https://x.test/\xff\xfe\"}", badLink},
			{"JSON link with escapes", "json", "", "{\"key\":\"{key}\",\"action\":\"add\",\"service\":{svc},\"quantity\":100,\"link\":\"https:\\/\\/x.test\\/\xff\"}", badLink},
			{"form comments", "form", "", add + "service={cc}&link=https%3A%2F%2Fx.test%2Fc&comments=nice%0A%ff", incorrect},
			{"multipart comments", "multipart", "", add + "service={cc}&link=https%3A%2F%2Fx.test%2Fc&comments=nice%0A%C0%AF", incorrect},
			{"JSON comments", "json", "", "{\"key\":\"{key}\",\"action\":\"add\",\"service\":{cc},\"link\":\"https://x.test/c\",\"comments\":\"nice\\n\xff\"}", incorrect},
			{"username", "form", "", add + "service={likes}&link=https%3A%2F%2Fx.test%2Fu&quantity=100&username=%ff", incorrect},
			{"usernames", "form", "", add + "service={list}&link=https%3A%2F%2Fx.test%2Fl&usernames=a%0A%ed%a0%80", incorrect},
			{"quantity", "form", "", add + "service={svc}&link=https%3A%2F%2Fx.test%2Fq&quantity=1%ff", incorrect},
			{"unknown parameter", "query", "", add + "service={svc}&link=https%3A%2F%2Fx.test%2Fz&quantity=100&utm=%ff", incorrect},
			{"a parameter's name", "form", "", add + "service={svc}&link=https%3A%2F%2Fx.test%2Fz&quantity=100&%ff=1", incorrect},
			{"JSON name", "json", "", "{\"key\":\"{key}\",\"action\":\"add\",\"service\":{svc},\"link\":\"https://x.test/z\",\"quantity\":100,\"x\xff\":1}", incorrect},
			{"status orders", "form", "", "key={key}&action=status&orders=%ff", incorrect},
			{"key, before the key check", "form", "", "key=%ff&action=balance", incorrect},
			{"action", "form", "", "key={key}&action=balance%ff", incorrect},
			{"a bad link after the key check", "form", "", "key=wrong&action=add&service={svc}&quantity=100&link=%ff", `{"error":"Invalid API key"}`},
			{"a bad link after the action check", "form", "", "key={key}&action=nope&link=%ff", incorrect},
			{"a link no action reads", "form", "", "key={key}&action=balance&link=%ff", `{"balance":"1000.0000","currency":"CNY"}`},
		} {
			jsonEqual(t, habitDo(t, s, vars, h), vars.Replace(h.want))
		}
		// The PHP client urlencodes the raw bytes of a Latin-1 link.
		r := phpClientPost(t, s, [][2]string{{"key", a.Key}, {"action", "add"}, {"service", svc}, {"link", "https://x.test/caf\xe9"}, {"quantity", "100"}})
		if r.Status != http.StatusOK {
			t.Errorf("PHP client: HTTP %d", r.Status)
		}
		jsonEqual(t, r, badLink)
		habitMustRows(t, env, s, a, before)

		// Text that is UTF-8 goes through unchanged.
		link := "https://x.test/café/🙂"
		id := mustAdd(t, s, a.Key, url.Values{"service": {svc}, "link": {link}, "quantity": {"100"}})
		if got := ordLink(t, env.DB(t), id); got != link {
			t.Errorf("stored link %q, want %q", got, link)
		}
	})
}

// JSON: arrays only for the lists, null absent only for optional
// parameters; {"service":[5]} was read as 5 before.
func TestHabitsJSONTypes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env, s, a, svc := habitStart(t, b, "nodejson")
		vars := strings.NewReplacer("{key}", a.Key, "{svc}", svc)
		const add = `{"key":"{key}","action":"add","link":"https://x.test/j","quantity":100,`
		before := habitCounts(t, env)
		for _, h := range []habitReq{
			{"key array", "json", "", `{"key":["{key}"],"action":"balance"}`, incorrect},
			{"action array", "json", "", `{"key":"{key}","action":["balance"]}`, incorrect},
			{"service array", "json", "", add + `"service":[{svc}]}`, incorrect},
			{"quantity array", "json", "", `{"key":"{key}","action":"add","link":"https://x.test/j","service":{svc},"quantity":[100]}`, incorrect},
			{"link object", "json", "", `{"key":"{key}","action":"add","service":{svc},"quantity":100,"link":{"url":"https://x.test/j"}}`, incorrect},
			{"order array", "json", "", `{"key":"{key}","action":"status","order":["Zz9Yy8Xx7W"]}`, incorrect},
			{"unknown parameter array", "json", "", `{"key":"{key}","action":"balance","tags":["a"]}`, incorrect},
			{"key null", "json", "", `{"key":null,"action":"balance"}`, incorrect},
			{"service null", "json", "", add + `"service":null}`, incorrect},
			{"orders null", "json", "", `{"key":"{key}","action":"status","orders":null,"order":"Zz9Yy8Xx7W"}`, incorrect},
		} {
			jsonEqual(t, habitDo(t, s, vars, h), h.want)
		}
		habitMustRows(t, env, s, a, before)

		// null for an optional parameter is absent; a list is still an array.
		r := habitDo(t, s, vars, habitReq{"runs null", "json", "",
			add + `"service":{svc},"runs":null,"interval":null,"comments":null,"username":null,"country":null,"ref":null}`, ""})
		id, ok := ordAddID(r)
		if !ok {
			t.Fatalf("add with nulls: %s", r.Body)
		}
		r = habitDo(t, s, strings.NewReplacer("{key}", a.Key, "{id}", id), habitReq{"orders array", "json", "",
			`{"key":"{key}","action":"status","orders":["{id}","Zz9Yy8Xx7W"]}`, ""})
		jsonEqual(t, r, fmt.Sprintf(`{%q:%s,"Zz9Yy8Xx7W":{"error":"Incorrect order ID"}}`, id, ordStatusWant("0.1000", "0", "Pending", "100")))
		mustLedgerMatches(t, s, a.ID)
	})
}
