package api

import (
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseParams: whatever arrives, the parser answers parameters or one
// of its two documented errors, and never panics. The seeds are real-world
// oddities; `go test` runs them as ordinary tests.
func FuzzParseParams(f *testing.F) {
	seeds := []struct{ query, contentType, body string }{
		{"", "application/x-www-form-urlencoded", "key=abc&action=add&service=1&link=x&quantity=100"},
		{"key=a&action=status", "", ""},
		{"", "application/x-www-form-urlencoded", "orders=,,,"},
		{"", "application/x-www-form-urlencoded", "quantity=-5&runs=&interval=0"},
		{"", "application/x-www-form-urlencoded", "quantity=99999999999999999999999999"},
		{"", "application/x-www-form-urlencoded", "comments=a%0D%0Ab+c%0A%0A"},
		{"", "application/x-www-form-urlencoded", "key=%zz"},
		{"%", "", ""},
		{"", "application/json", `{"service":11,"quantity":100,"orders":["a","b",3]}`},
		{"", "application/json", `{"orders":[["nested"]]}`},
		{"", "application/json", `{"link":"https://x/🙂","username":"ü"}`},
		{"", "application/json", `{"a":null,"b":true,"c":1e400}`},
		{"", "application/json", `[1,2]`},
		{"", "application/json", `{"a":1} {"b":2}`},
		{"", "application/json", `nul`},
		{"", "multipart/form-data; boundary=xx", "--xx\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nabc\r\n--xx--\r\n"},
		{"", "multipart/form-data; boundary=xx", "--xx\r\nbroken"},
		{"", "multipart/form-data", "no boundary"},
		{"", "text/plain", "key=a"},
		{"", "application/x-www-form-urlencoded; charset=", "key=a"},
		{"", "application/json; charset=utf-8", "\ufeff{}"},
		// Invalid UTF-8: in a link (let through for add), anywhere else.
		{"", "application/x-www-form-urlencoded", "link=https%3A%2F%2Fx.test%2F%ff%fe&comments=ok"},
		{"comments=%C0%AF", "", ""},
		{"", "application/json", "{\"link\":\"https://x/\xff\",\"key\":\"k\"}"},
		{"", "application/json", "{\"li\xffnk\":\"x\"}"},
		{"", "application/json", "{\"link\":\"\xff\",\"link\":\"ok\"}"},
		{"", "multipart/form-data; boundary=xx", "--xx\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\n\xff\r\n--xx--\r\n"},
		// Bracket lists as PHP and Node's qs send them, and their faults.
		{"", "application/x-www-form-urlencoded", "orders%5B0%5D=a&orders%5B1%5D=b"},
		{"orders[1]=B&orders[0]=A&orders[]=C", "", ""},
		{"", "application/x-www-form-urlencoded", "orders[]=a&orders=b"},
		{"", "application/x-www-form-urlencoded", "refills[x]=1&refills[4294967296]=2&orders[0][1]=3&orders[-1]=4"},
		{"orders=a", "application/x-www-form-urlencoded", "orders[0]=b&orders[0]=c"},
		{"", "multipart/form-data; boundary=xx", "--xx\r\nContent-Disposition: form-data; name=\"orders[]\"\r\n\r\na\r\n--xx\r\nContent-Disposition: form-data; name=\"orders[]\"\r\n\r\nb\r\n--xx--\r\n"},
		// JSON arrays and objects for scalars, and null.
		{"", "application/json", `{"key":["k"],"action":["balance"],"service":[5]}`},
		{"", "application/json", `{"quantity":{"n":1}}`},
		{"", "application/json", `{"key":"k","action":"add","runs":null,"interval":null,"comments":null}`},
		{"", "application/json", `{"key":null}`},
		{"", "application/json", `{"orders":[null]}`},
		{"", "application/json", `{"link":"a\ud800b"}`},
	}
	for _, s := range seeds {
		f.Add(s.query, s.contentType, s.body)
	}
	f.Fuzz(func(t *testing.T, query, contentType, body string) {
		req := httptest.NewRequest(http.MethodPost, "/api/v2", strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", contentType)
		p, err := parseParams(req)
		if err != nil {
			if !errors.Is(err, errIncorrectRequest) && !errors.Is(err, errBodyTooLarge) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		if p == nil {
			t.Fatal("nil params without error")
		}
		for k, v := range p {
			if !utf8.ValidString(k) || k != "link" && !utf8.ValidString(v) {
				t.Fatalf("%q = %q: not UTF-8", k, v)
			}
		}
	})
}

// parseForm must read a form as refForm does: url.ParseQuery's syntax,
// errors and unescaping, plus the bracket lists and the UTF-8 rule.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "a=1&a=2", "a", "a=", "=v", "&&a=1&&", "a=%zz&b=2", "%zz=1", "a;b=1",
		"a=1;b=2", "a=%2B+b%20c", "k%3Dx=v%26w", "a=1&" + strings.Repeat("&", 10001), strings.Repeat("x=1&", 9999) + "y=2",
		strings.Repeat("x=1&", 10000) + "y=2", "ü=%C3%BC", "a=%", "a=%4",
		"link=%ff", "a=%ff", "%ff=1", "a=%C3", "orders[]=a&orders[]=b", "orders%5B1%5D=b&orders%5B0%5D=a",
		"orders[5]=a&orders[]=b&orders[0]=c", "orders[0]=a&orders[0]=b", "orders[]=a&orders=b", "orders=b&orders[]=a",
		"orders[x]=1", "orders[0=1", "orders[0]]=1", "orders[+1]=1", "orders[01]=1&orders[1]=2", "refills[]=1&orders[]=2",
		"order[]=1", "orders[]", "orders[4294967295]=a&orders[]=b", "foo[0]=1&foo[0]=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, wok := refForm(s)
		got := params{}
		gerr := parseForm(s, got)
		if wok != (gerr == nil) {
			t.Fatalf("%q: parseForm error %v, reference ok %v", s, gerr, wok)
		}
		if !wok {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %v, want %v", s, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%q: %q = %q, want %q", s, k, got[k], v)
			}
		}
	})
}

// refForm is the oracle of FuzzParseForm, written for plainness over speed:
// url.ParseQuery decides the syntax and unescapes each pair; the first value
// of a name wins; text must be UTF-8 (a link's value excepted); orders[N],
// orders[] (and refills) build a PHP array, read in index order.
func refForm(s string) (map[string]string, bool) {
	if _, err := url.ParseQuery(s); err != nil {
		return nil, false
	}
	out := map[string]string{}
	type item struct {
		idx int64
		v   string
	}
	lists := map[string][]item{}
	next := map[string]int64{}
	for _, part := range strings.Split(s, "&") {
		pair, _ := url.ParseQuery(part) // one name at most
		for k, vs := range pair {
			v := vs[0]
			if !utf8.ValidString(k) || k != "link" && !utf8.ValidString(v) {
				return nil, false
			}
			name, rest, bracket := strings.Cut(k, "[")
			if !bracket || name != "orders" && name != "refills" {
				if _, seen := out[k]; !seen {
					out[k] = v
				}
				continue
			}
			if !strings.HasSuffix(rest, "]") {
				return nil, false
			}
			idx := next[name]
			if n := strings.TrimSuffix(rest, "]"); n != "" {
				if strings.Trim(n, "0123456789") != "" {
					return nil, false
				}
				u, err := strconv.ParseUint(n, 10, 32)
				if err != nil {
					return nil, false
				}
				idx = int64(u)
			}
			next[name] = max(next[name], idx+1)
			if !slices.ContainsFunc(lists[name], func(it item) bool { return it.idx == idx }) {
				lists[name] = append(lists[name], item{idx, v})
			}
		}
	}
	for name, items := range lists {
		if _, plain := out[name]; plain {
			return nil, false
		}
		sort.Slice(items, func(i, j int) bool { return items[i].idx < items[j].idx })
		vs := make([]string, len(items))
		for i, it := range items {
			vs[i] = it.v
		}
		out[name] = strings.Join(vs, ",")
	}
	return out, true
}

// The body limit is 1 MiB: one byte more is 413, exactly 1 MiB is read.
func TestParseParamsLimit(t *testing.T) {
	at := "comments=" + strings.Repeat("a", maxBody-len("comments="))
	req := httptest.NewRequest(http.MethodPost, "/api/v2", strings.NewReader(at))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p, err := parseParams(req); err != nil || len(p["comments"]) != maxBody-len("comments=") {
		t.Fatalf("1 MiB body: %v", err)
	}
	req = httptest.NewRequest(http.MethodPost, "/api/v2", strings.NewReader(at+"a"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := parseParams(req); !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("1 MiB + 1: err %v, want errBodyTooLarge", err)
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := ParseCIDRs("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote, xff string
		trusted           bool
		want              string
	}{
		{"no proxy list: peer", "203.0.113.9:5000", "1.2.3.4", false, "203.0.113.9"},
		{"untrusted peer ignores XFF", "203.0.113.9:5000", "1.2.3.4", true, "203.0.113.9"},
		{"trusted peer: last hop", "10.1.2.3:5000", "1.2.3.4", true, "1.2.3.4"},
		{"trusted chain: rightmost untrusted", "127.0.0.1:5000", "6.6.6.6, 1.2.3.4, 10.9.9.9", true, "1.2.3.4"},
		{"spoofed garbage stops the walk", "10.1.2.3:5000", "1.2.3.4, junk", true, "10.1.2.3"},
		{"all trusted: left-most", "10.1.2.3:5000", "10.0.0.7", true, "10.0.0.7"},
		{"ipv6 peer", "[2001:db8::1]:443", "", false, "2001:db8::1"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = tt.remote
		if tt.xff != "" {
			req.Header.Set("X-Forwarded-For", tt.xff)
		}
		var nets = trusted
		if !tt.trusted {
			nets = nil
		}
		if got := clientIP(req, nets); got != tt.want {
			t.Errorf("%s: clientIP = %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, err := ParseCIDRs("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
}

// The body's values win over the query string's; within each, the first.
func TestParseParamsPrecedence(t *testing.T) {
	for _, tc := range []struct {
		query, contentType, body string
		want                     map[string]string
	}{
		{"a=1&b=2", "application/x-www-form-urlencoded", "b=3&b=4&c=5", map[string]string{"a": "1", "b": "3", "c": "5"}},
		{"a=1&a=9", "", "", map[string]string{"a": "1"}},
		{"", "", "x=1&x=2", map[string]string{"x": "1"}},
		{"k=q", "application/x-www-form-urlencoded; charset=utf-8", "k=b", map[string]string{"k": "b"}},
		{"k=q", "application/json", `{"k":"b","n":5}`, map[string]string{"k": "b", "n": "5"}},
	} {
		req := httptest.NewRequest(http.MethodPost, "/api/v2?"+tc.query, strings.NewReader(tc.body))
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		p, err := parseParams(req)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if len(p) != len(tc.want) {
			t.Errorf("%+v: got %v", tc, p)
		}
		for k, v := range tc.want {
			if p[k] != v {
				t.Errorf("%+v: %s = %q, want %q (all: %v)", tc, k, p[k], v, p)
			}
		}
	}
}

// BenchmarkParseParams measures the parser on typical requests: a status
// and an add form body, a GET status, and an add as JSON.
func BenchmarkParseParams(b *testing.B) {
	for _, bc := range []struct{ name, query, contentType, body string }{
		{"status-form", "", "application/x-www-form-urlencoded", "key=0123456789abcdef0123456789abcdef&action=status&order=b76VJizQKZ"},
		{"status-query", "key=0123456789abcdef0123456789abcdef&action=status&order=b76VJizQKZ", "", ""},
		{"add-form", "", "application/x-www-form-urlencoded",
			"key=0123456789abcdef0123456789abcdef&action=add&service=11&link=https%3A%2F%2Finstagram.com%2Fp%2Fabc&quantity=100&runs=undefined&interval=undefined"},
		{"add-json", "", "application/json",
			`{"key":"0123456789abcdef0123456789abcdef","action":"add","service":11,"link":"https://instagram.com/p/abc","quantity":100}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// One request, its body rewound each time: only the parser is measured.
			body := &rewindBody{}
			req := httptest.NewRequest(http.MethodPost, "/api/v2", nil)
			req.URL.RawQuery = bc.query
			if bc.contentType != "" {
				req.Header.Set("Content-Type", bc.contentType)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				body.Reset(bc.body)
				req.Body = body
				if _, err := parseParams(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type rewindBody struct{ strings.Reader }

func (*rewindBody) Close() error { return nil }

// multipartForm builds a multipart body of pairs, in order, as PHP's curl
// and Node's form-data send one.
func multipartForm(pairs ...string) (contentType, body string) {
	var b strings.Builder
	w := multipart.NewWriter(&b)
	for i := 0; i+1 < len(pairs); i += 2 {
		w.WriteField(pairs[i], pairs[i+1])
	}
	w.Close()
	return w.FormDataContentType(), b.String()
}

// How real clients call: bracket lists, "no value" tokens left to add, text
// that is not UTF-8, JSON arrays and null. A nil want is "Incorrect request".
func TestParseParamsHabits(t *testing.T) {
	const form, js = "application/x-www-form-urlencoded", "application/json"
	mpBrackets, mpBracketsBody := multipartForm("orders[1]", "B", "orders[0]", "A", "orders[]", "C")
	mpAppend, mpAppendBody := multipartForm("refills[]", "1", "refills[]", "2")
	mpMixed, mpMixedBody := multipartForm("orders[]", "a", "orders", "b")
	mpBadUser, mpBadUserBody := multipartForm("username", "\xff")
	mpBadLink, mpBadLinkBody := multipartForm("link", "https://x/\xff")
	mpEncoded, mpEncodedBody := multipartForm("orders%5B0%5D", "a")
	type m = map[string]string
	for _, tc := range []struct {
		name, query, contentType, body string
		want                           m
	}{
		// Bracket lists.
		{"PHP http_build_query", "", form, "orders%5B0%5D=a&orders%5B1%5D=b", m{"orders": "a,b"}},
		{"qs unencoded, index order", "orders[1]=B&orders[0]=A", "", "", m{"orders": "A,B"}},
		{"qs brackets", "", form, "orders[]=a&orders[]=b", m{"orders": "a,b"}},
		{"[] after the highest index", "", form, "orders[5]=a&orders[]=b&orders[0]=c", m{"orders": "c,a,b"}},
		{"repeated index: first", "", form, "orders[0]=a&orders[0]=b&orders[]=c", m{"orders": "a,c"}},
		{"[] then the same index", "", form, "orders[]=a&orders[0]=b", m{"orders": "a"}},
		{"leading zeros are the index", "", form, "orders[01]=b&orders[0]=a", m{"orders": "a,b"}},
		{"empty items kept as empty", "", form, "orders[]=&orders[]=a", m{"orders": ",a"}},
		{"refills", "", form, "refills[]=1&refills[]=2&key=k", m{"refills": "1,2", "key": "k"}},
		{"multipart index order", "", mpBrackets, mpBracketsBody, m{"orders": "A,B,C"}},
		{"multipart []", "", mpAppend, mpAppendBody, m{"refills": "1,2"}},
		{"multipart names are literal", "", mpEncoded, mpEncodedBody, m{"orders%5B0%5D": "a"}},
		{"other names keep their brackets", "", form, "order[]=1&foo[0]=2", m{"order[]": "1", "foo[0]": "2"}},
		{"body list wins over query plain", "orders=q", form, "orders[0]=b", m{"orders": "b"}},
		{"body plain wins over query list", "orders[0]=q", form, "orders=b", m{"orders": "b"}},
		{"mixed in a form", "", form, "orders[]=a&orders=b", nil},
		{"mixed, plain first", "", form, "orders=b&orders%5B0%5D=a", nil},
		{"mixed in a query", "orders=a&orders[0]=b", "", "", nil},
		{"mixed in multipart", "", mpMixed, mpMixedBody, nil},
		{"non-integer index", "", form, "orders[x]=a", nil},
		{"negative index", "", form, "orders[-1]=a", nil},
		{"signed index", "", form, "orders[+1]=a", nil},
		{"spaced index", "", form, "orders[%201]=a", nil},
		{"index past 32 bits", "", form, "orders[4294967296]=a", nil},
		{"nested", "", form, "orders[0][1]=a", nil},
		{"unclosed", "", form, "orders[0=a", nil},

		// Text that is not UTF-8: a link is add's to refuse, the rest here.
		{"form link", "", form, "link=https%3A%2F%2Fx.test%2F%ff%fe", m{"link": "https://x.test/\xff\xfe"}},
		{"form comments", "", form, "comments=%ff", nil},
		{"form name", "", form, "%ff=1", nil},
		{"overlong encoding", "", form, "username=%C0%AF", nil},
		{"query, though the body overrides", "comments=%ff", form, "comments=ok", nil},
		{"query key", "key=%fe", "", "", nil},
		{"multipart username", "", mpBadUser, mpBadUserBody, nil},
		{"multipart link", "", mpBadLink, mpBadLinkBody, m{"link": "https://x/\xff"}},
		{"JSON link", "", js, "{\"link\":\"https://x/\xff\"}", m{"link": "https://x/\xff"}},
		{"JSON link with an escape", "", js, "{\"link\":\"https:\\/\\/x/\xff\"}", m{"link": "\xff"}},
		{"JSON comments", "", js, "{\"comments\":\"a\xffb\"}", nil},
		{"JSON name", "", js, "{\"li\xffnk\":\"x\"}", nil},
		{"JSON hidden by a repeated name", "", js, "{\"link\":\"\xff\",\"link\":\"ok\"}", nil},
		{"JSON list item", "", js, "{\"orders\":[\"a\",\"\xff\"]}", nil},
		{"JSON lone surrogate escape is U+FFFD", "", js, `{"username":"a\ud800"}`, m{"username": "a\ufffd"}},

		// JSON arrays only for lists; null absent only where optional.
		{"JSON list", "", js, `{"orders":["a",1,true],"refills":[]}`, m{"orders": "a,1,1", "refills": ""}},
		{"JSON key array", "", js, `{"key":["k"]}`, nil},
		{"JSON action array", "", js, `{"action":["balance"]}`, nil},
		{"JSON service array", "", js, `{"service":[5]}`, nil},
		{"JSON quantity array", "", js, `{"quantity":[100]}`, nil},
		{"JSON unknown array", "", js, `{"extra":[1]}`, nil},
		{"JSON object", "", js, `{"link":{"a":1}}`, nil},
		{"JSON nested list", "", js, `{"orders":[["a"]]}`, nil},
		{"JSON null item", "", js, `{"orders":[null]}`, nil},
		{"JSON null optional", "runs=5", js, `{"key":"k","runs":null,"interval":null,"comments":null,"username":null,"usernames":null,"extra":null}`,
			m{"key": "k", "runs": "5"}},
		{"JSON numbers as written", "", js, `{"service":11,"quantity":1e2,"runs":-0}`, m{"service": "11", "quantity": "1e2", "runs": "-0"}},
		{"JSON booleans", "", js, `{"a":true,"b":false}`, m{"a": "1", "b": "0"}},
		{"JSON escapes", "", js, `{"comments":"a\nb \"c\" \u00fc"}`, m{"comments": "a\nb \"c\" ü"}},
	} {
		want := tc.want
		req := httptest.NewRequest(http.MethodPost, "/api/v2?"+tc.query, strings.NewReader(tc.body))
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		p, err := parseParams(req)
		if want == nil {
			if !errors.Is(err, errIncorrectRequest) {
				t.Errorf("%s: got %q, %v; want Incorrect request", tc.name, p, err)
			}
			continue
		}
		if err != nil || len(p) != len(want) {
			t.Errorf("%s: got %q, %v; want %q", tc.name, p, err, want)
			continue
		}
		for k, v := range want {
			if p[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, p[k], v)
			}
		}
	}
}

// JSON null is malformed for the parameters that say what a request asks.
func TestParseParamsJSONNullRequired(t *testing.T) {
	for _, k := range []string{"key", "action", "service", "link", "quantity", "order", "orders", "refill", "refills"} {
		req := httptest.NewRequest(http.MethodPost, "/api/v2", strings.NewReader(`{"key":"k","`+k+`":null}`))
		req.Header.Set("Content-Type", "application/json")
		if p, err := parseParams(req); !errors.Is(err, errIncorrectRequest) {
			t.Errorf("%s null: got %q, %v; want Incorrect request", k, p, err)
		}
	}
}
