package tests

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// POST /internal/v1/sites → 201 with the site; GET lists the main site
// first; a domain of another site → 409 with nothing written.
func TestSitesCreate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)

		r := s.Admin(t, "POST", "/internal/v1/sites", map[string]any{"name": "Child A", "domains": []string{"child-a.example"}})
		if r.Status != http.StatusCreated {
			t.Fatalf("create: status %d: %s", r.Status, r.Body)
		}
		const childA = `{"id":2,"name":"Child A","domains":["child-a.example"],"is_main":false,"order_id_format":null}`
		jsonEqual(t, r, childA)

		items, next := mustProvList(t, s, "/internal/v1/sites")
		if len(items) != 2 || next != "" {
			t.Fatalf("list = %v next %q, want 2 sites, no next page", items, next)
		}
		if main := items[0]; main["id"] != json.Number("1") || main["is_main"] != true {
			t.Errorf("first site = %v, want the main site, id 1, is_main true", main)
		}
		if d, ok := items[0]["domains"].([]any); !ok || len(d) != 0 {
			t.Errorf("main site domains = %v, want []", items[0]["domains"])
		}
		got, _ := json.Marshal(items[1])
		jsonEqual(t, Response{Body: got}, childA)

		before := s.Admin(t, "GET", "/internal/v1/sites", nil).Body
		// A domain of another site, however it is spelled, is a conflict;
		// the transaction leaves no site and no domain behind.
		for _, d := range [][]string{
			{"child-a.example"},
			{"CHILD-A.example"},
			{"child-a.example:443"},
			{"free.example", "child-a.example"},
		} {
			r := s.Admin(t, "POST", "/internal/v1/sites", map[string]any{"name": "Child B", "domains": d})
			mustErr(t, r, http.StatusConflict, "")
			if after := s.Admin(t, "GET", "/internal/v1/sites", nil).Body; !bytes.Equal(after, before) {
				t.Errorf("domains %v: sites changed after a 409:\n got: %s\nwant: %s", d, after, before)
			}
		}
		// free.example was rolled back with its refused site, so it is free.
		r = s.Admin(t, "POST", "/internal/v1/sites", map[string]any{"name": "Child B", "domains": []string{"free.example"}})
		if r.Status != http.StatusCreated {
			t.Fatalf("free.example after a refused site: status %d: %s", r.Status, r.Body)
		}
		if o := r.Obj(t); o["name"] != "Child B" || o["is_main"] != false {
			t.Errorf("Child B = %s", r.Body)
		}
	})
}

// Domains are stored as the Host header is matched: lower case, no port,
// no trailing dot, each once.
func TestSitesDomainsNormalised(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		r := s.Admin(t, "POST", "/internal/v1/sites", map[string]any{"name": "  Child C  ",
			"domains": []string{"CHILD-C.Example:8080", "child-c.example.", " www.Child-C.example "}})
		if r.Status != http.StatusCreated {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		jsonEqual(t, r, `{"id":2,"name":"Child C","domains":["child-c.example","www.child-c.example"],"is_main":false,"order_id_format":null}`)
		items, _ := mustProvList(t, s, "/internal/v1/sites")
		got, _ := json.Marshal(items[len(items)-1])
		jsonEqual(t, Response{Body: got}, `{"id":2,"name":"Child C","domains":["child-c.example","www.child-c.example"],"is_main":false,"order_id_format":null}`)
	})
}

// Bad input → 400 and nothing written.
func TestSitesBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		before := s.Admin(t, "GET", "/internal/v1/sites", nil).Body
		tests := []struct {
			name string
			body any
		}{
			{"missing name", `{"domains":["x.example"]}`},
			{"empty name", `{"name":"","domains":["x.example"]}`},
			{"blank name", `{"name":"   ","domains":["x.example"]}`},
			{"name too long", map[string]any{"name": strings.Repeat("n", 129), "domains": []string{"x.example"}}},
			{"underscore in domain", `{"name":"X","domains":["bad_domain.example"]}`},
			{"space in domain", `{"name":"X","domains":["bad domain.example"]}`},
			{"slash in domain", `{"name":"X","domains":["x.example/path"]}`},
			{"scheme in domain", `{"name":"X","domains":["http://x.example"]}`},
			{"empty domain", `{"name":"X","domains":[""]}`},
			{"port only", `{"name":"X","domains":[":8080"]}`},
			{"domain too long", map[string]any{"name": "X", "domains": []string{strings.Repeat("a", 250) + ".example"}}},
			{"non-ASCII domain", `{"name":"X","domains":["bücher.example"]}`},
			{"not JSON", `{"name":"X",`},
			{"JSON array", `[{"name":"X"}]`},
			{"JSON string", `"X"`},
			{"unknown field", `{"name":"X","domains":["x.example"],"main":true}`},
			{"name of wrong type", `{"name":5,"domains":["x.example"]}`},
			{"domains of wrong type", `{"name":"X","domains":"x.example"}`},
			{"domain of wrong type", `{"name":"X","domains":[5]}`},
			{"trailing data", `{"name":"X","domains":["x.example"]} {}`},
			{"empty body", ``},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.Admin(t, "POST", "/internal/v1/sites", tt.body)
				mustErr(t, r, http.StatusBadRequest, "")
				if after := s.Admin(t, "GET", "/internal/v1/sites", nil).Body; !bytes.Equal(after, before) {
					t.Errorf("sites changed after a 400:\n got: %s\nwant: %s", after, before)
					before = after // blame the next case only for its own writes
				}
			})
		}
	})
}

// A public request belongs to the site whose domain is its Host (any case,
// any port); an unknown Host belongs to the main site. A key works on its
// own site only.
func TestSitesHostRouting(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/sites", map[string]any{"name": "Child A", "domains": []string{"child-a.example"}})
		child := s.MustAccountOn(t, "bob", "5", 2)
		main := s.MustAccount(t, "alice", "7")

		for _, host := range []string{"child-a.example", "CHILD-A.example:8080", "Child-A.Example"} {
			mustProvKeyWorks(t, s, child.Key, host, "5.0000")
			mustProvKeyInvalid(t, s, main.Key, host)
		}
		for _, host := range []string{"", "unknown.example", "child-b.example:8080"} {
			mustProvKeyInvalid(t, s, child.Key, host)
			mustProvKeyWorks(t, s, main.Key, host, "7.0000")
		}
	})
}
