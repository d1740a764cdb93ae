package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// provService is the spec's example service.
const provService = `{"name":"Followers","type":"Default","category":"Instagram","rate":"8.5000","min":10,"max":10000,"refill":true,"cancel":true,"dripfeed":false,"description":"","enabled":true,"supplier_id":null,"supplier_service":""}`

// POST /internal/v1/services → 201 with every field sent plus id; GET
// answers the same.
func TestCatalogCreate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		start := time.Now().UTC().Truncate(time.Second)
		r := s.Admin(t, "POST", "/internal/v1/services", provService)
		if r.Status != http.StatusCreated {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		got := r.Obj(t)
		mustProvFields(t, got, provService)
		if got["id"] != json.Number("1") {
			t.Errorf("id = %v, want 1", got["id"])
		}
		mustProvTime(t, got["created_at"], start)

		g := s.Admin(t, "GET", "/internal/v1/services/1", nil)
		if g.Status != http.StatusOK {
			t.Fatalf("get: status %d: %s", g.Status, g.Body)
		}
		jsonEqual(t, g, string(r.Body))

		// Numbers may come as JSON numbers or strings; the rate is written
		// back with 4 decimals; a service may start disabled.
		r = s.Admin(t, "POST", "/internal/v1/services", `{"name":"  Likes  ","type":"Package","category":"TikTok","rate":0.5,"min":"1","max":"1","description":"multi\nline 二","enabled":false,"supplier_service":"x-1"}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("second: status %d: %s", r.Status, r.Body)
		}
		mustProvFields(t, r.Obj(t), `{"id":2,"name":"Likes","type":"Package","category":"TikTok","rate":"0.5000","min":1,"max":1,"refill":false,"cancel":false,"dripfeed":false,"description":"multi\nline 二","enabled":false,"supplier_id":null,"supplier_service":"x-1"}`)

		for _, p := range []string{"/internal/v1/services/3", "/internal/v1/services/0", "/internal/v1/services/abc", "/internal/v1/services/-1"} {
			mustErr(t, s.Admin(t, "GET", p, nil), http.StatusNotFound, "")
			mustErr(t, s.Admin(t, "PATCH", p, `{"rate":"1"}`), http.StatusNotFound, "")
		}
	})
}

// Invalid services → 400 and nothing written.
func TestCatalogBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		with := func(kv ...any) map[string]any {
			var m map[string]any
			json.Unmarshal([]byte(provService), &m)
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(m, kv[i].(string))
					continue
				}
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		}
		tests := []struct {
			name string
			body any
		}{
			{"min above max", with("min", 100, "max", 10)},
			{"min zero", with("min", 0)},
			{"min negative", with("min", -5)},
			{"max too large", with("max", 10_000_000_000)},
			{"negative rate", with("rate", "-1.0000")},
			{"negative rate as a number", with("rate", -0.0001)},
			{"rate with 5 decimals", with("rate", "8.50001")},
			{"rate with an exponent", with("rate", "1e2")},
			{"rate as text", with("rate", "cheap")},
			{"empty rate", with("rate", "")},
			{"unknown type", with("type", "Bogus")},
			{"type in the wrong case", with("type", "default")},
			{"empty name", with("name", "")},
			{"blank name", with("name", "   ")},
			{"name too long", with("name", strings.Repeat("n", 256))},
			{"empty category", with("category", "")},
			{"missing name", with("name", nil)},
			{"missing type", with("type", nil)},
			{"missing category", with("category", nil)},
			{"missing rate", with("rate", nil)},
			{"missing min", with("min", nil)},
			{"missing max", with("max", nil)},
			{"name as a number", with("name", 5)},
			{"min as text", with("min", "ten")},
			{"min with decimals", with("min", 1.5)},
			{"max as a boolean", with("max", true)},
			{"refill as text", with("refill", "yes")},
			{"enabled as a number", with("enabled", 1)},
			{"rate as a boolean", with("rate", true)},
			{"unknown supplier", with("supplier_id", 7)},
			{"unknown field", with("price", "1")},
			{"not JSON", `{"name":"x"`},
			{"JSON array", `[` + provService + `]`},
			{"trailing data", provService + `{}`},
			{"empty body", ``},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustErr(t, s.Admin(t, "POST", "/internal/v1/services", tt.body), http.StatusBadRequest, "")
				if items, _ := mustProvList(t, s, "/internal/v1/services"); len(items) != 0 {
					t.Fatalf("services after a 400 = %v, want none", items)
				}
			})
		}
	})
}

// PATCH /internal/v1/services/{id} changes only the fields sent; an invalid
// result → 400 and nothing changes.
func TestCatalogPatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/services", provService)
		orig := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/services/1", nil)

		r := s.Admin(t, "PATCH", "/internal/v1/services/1", `{"rate":"9.1234"}`)
		if r.Status != http.StatusOK {
			t.Fatalf("patch: status %d: %s", r.Status, r.Body)
		}
		want := map[string]any{}
		for k, v := range orig {
			want[k] = v
		}
		want["rate"] = "9.1234"
		got := r.Obj(t)
		for k := range want {
			if k == "updated_at" {
				continue
			}
			if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) {
				t.Errorf("%s = %v after patching the rate, want %v", k, got[k], want[k])
			}
		}
		if len(got) != len(want) {
			t.Errorf("patched = %s, want the fields of %v", r.Body, want)
		}
		jsonEqual(t, s.Admin(t, "GET", "/internal/v1/services/1", nil), string(r.Body))

		// Several fields at once.
		r = s.Admin(t, "PATCH", "/internal/v1/services/1", `{"name":"Real followers","min":20,"max":"500","refill":false,"description":"d"}`)
		if r.Status != http.StatusOK {
			t.Fatalf("patch: status %d: %s", r.Status, r.Body)
		}
		mustProvFields(t, r.Obj(t), `{"id":1,"name":"Real followers","type":"Default","category":"Instagram","rate":"9.1234","min":20,"max":500,"refill":false,"cancel":true,"dripfeed":false,"description":"d","enabled":true,"supplier_id":null,"supplier_service":""}`)

		before := s.Admin(t, "GET", "/internal/v1/services/1", nil).Body
		for _, body := range []string{
			`{"min":501}`, // above the stored max
			`{"max":19}`,  // below the stored min
			`{"min":0}`,
			`{"rate":"-1"}`,
			`{"rate":"1.23456"}`,
			`{"type":"Nope"}`,
			`{"name":""}`,
			`{"name":5}`,
			`{"id":2}`,
			`{"created_at":"2020-01-01T00:00:00Z"}`,
			`{"rate":"2","bogus":1}`, // a valid field beside an invalid one
			`{"rate":"2"`,
			`[]`,
			``,
		} {
			mustErr(t, s.Admin(t, "PATCH", "/internal/v1/services/1", body), http.StatusBadRequest, "")
			if after := s.Admin(t, "GET", "/internal/v1/services/1", nil).Body; !bytes.Equal(after, before) {
				t.Fatalf("patch %s: service changed after a 400:\n got: %s\nwant: %s", body, after, before)
			}
		}
		// An empty patch changes no field.
		r = s.Admin(t, "PATCH", "/internal/v1/services/1", `{}`)
		if r.Status != http.StatusOK {
			t.Fatalf("empty patch: status %d: %s", r.Status, r.Body)
		}
		mustProvFields(t, r.Obj(t), `{"id":1,"name":"Real followers","type":"Default","category":"Instagram","rate":"9.1234","min":20,"max":500,"refill":false,"cancel":true,"dripfeed":false,"description":"d","enabled":true,"supplier_id":null,"supplier_service":""}`)
	})
}

// GET /internal/v1/services pages by ID.
func TestCatalogList(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		var want []string
		for i := range 5 {
			want = append(want, s.MustService(t, map[string]any{"name": fmt.Sprintf("S%d", i), "enabled": i%2 == 0}))
		}
		pages := mustProvWalk(t, s, "/internal/v1/services", 2)
		if len(pages) != 3 || len(pages[0]) != 2 || len(pages[1]) != 2 || len(pages[2]) != 1 {
			t.Fatalf("pages = %v, want 2+2+1", pages)
		}
		var got []string
		for _, p := range pages {
			for _, sv := range p {
				got = append(got, fmt.Sprint(sv["id"]))
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("ids = %v, want %v (disabled services included)", got, want)
		}
		for _, q := range []string{"limit=0", "limit=x", "cursor=x", "cursor=0"} {
			mustErr(t, s.Admin(t, "GET", "/internal/v1/services?"+q, nil), http.StatusBadRequest, "")
		}
		if items, next := mustProvList(t, s, "/internal/v1/services?limit=1000"); len(items) != 5 || next != "" {
			t.Errorf("limit=1000: %d services, next %q", len(items), next)
		}
	})
}

// The public services action lists enabled services by category then ID;
// disabling one hides it at once, enabling it brings it back.
func TestCatalogPublic(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		acct := s.MustAccount(t, "alice", "")
		b1 := s.MustService(t, map[string]any{"name": "B one", "category": "B"})
		a2 := s.MustService(t, map[string]any{"name": "A two", "category": "A", "rate": "0.0001", "min": 1, "max": 5, "refill": false, "cancel": false})
		b3 := s.MustService(t, map[string]any{"name": "B three", "category": "B"})
		a4 := s.MustService(t, map[string]any{"name": "A four", "category": "A"})
		off := s.MustService(t, map[string]any{"name": "Off", "category": "A", "enabled": false})

		public := func() []map[string]any {
			t.Helper()
			r := s.Post(t, "/api/v2", url.Values{"key": {acct.Key}, "action": {"services"}})
			var out []map[string]any
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil {
				t.Fatalf("services: status %d: %s", r.Status, r.Body)
			}
			return out
		}
		ids := func(l []map[string]any) string {
			var s []string
			for _, e := range l {
				s = append(s, fmt.Sprint(e["service"]))
			}
			return strings.Join(s, ",")
		}
		list := public()
		if got, want := ids(list), strings.Join([]string{a2, a4, b1, b3}, ","); got != want {
			t.Errorf("public services = %s, want %s (category, then ID; %s disabled)", got, want, off)
		}
		got, _ := json.Marshal(list[0])
		jsonEqual(t, Response{Body: got}, `{"service":"`+a2+`","name":"A two","type":"Default","category":"A","rate":"0.0001","min":"1","max":"5","refill":false,"cancel":false}`)

		s.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/services/"+a2, map[string]any{"enabled": false})
		if got, want := ids(public()), strings.Join([]string{a4, b1, b3}, ","); got != want {
			t.Errorf("after disabling %s: %s, want %s", a2, got, want)
		}
		s.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/services/"+a2, map[string]any{"enabled": true})
		s.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/services/"+off, map[string]any{"enabled": true})
		if got, want := ids(public()), strings.Join([]string{a2, a4, off, b1, b3}, ","); got != want {
			t.Errorf("after enabling %s and %s: %s, want %s", a2, off, got, want)
		}
		// Moving a service to another category moves it in the list.
		s.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/services/"+b3, map[string]any{"category": "0 first"})
		if got, want := ids(public()), strings.Join([]string{b3, a2, a4, off, b1}, ","); got != want {
			t.Errorf("after moving %s: %s, want %s", b3, got, want)
		}
	})
}

// mustProvFields checks got has every field of the JSON object want with
// equal values; other fields (timestamps) are allowed.
func mustProvFields(tb testing.TB, got map[string]any, want string) {
	tb.Helper()
	var w map[string]any
	dec := json.NewDecoder(strings.NewReader(want))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		tb.Fatalf("bad want JSON %q: %v", want, err)
	}
	for k, wv := range w {
		gv, ok := got[k]
		gb, _ := json.Marshal(gv)
		wb, _ := json.Marshal(wv)
		if !ok || !bytes.Equal(gb, wb) {
			tb.Errorf("%s = %s, want %s", k, gb, wb)
		}
	}
}
