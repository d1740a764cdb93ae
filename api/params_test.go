package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
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
	})
}

// parseForm must read a form exactly as url.ParseQuery does (first value
// of each name, same errors).
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "a=1&a=2", "a", "a=", "=v", "&&a=1&&", "a=%zz&b=2", "%zz=1", "a;b=1",
		"a=1;b=2", "a=%2B+b%20c", "k%3Dx=v%26w", "a=1&" + strings.Repeat("&", 10001), strings.Repeat("x=1&", 9999) + "y=2",
		strings.Repeat("x=1&", 10000) + "y=2", "ü=%C3%BC", "a=%", "a=%4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := url.ParseQuery(s)
		got := params{}
		gerr := parseForm(s, got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: parseForm error %v, url.ParseQuery error %v", s, gerr, werr)
		}
		if werr != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d names, want %d", s, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v[0] {
				t.Fatalf("%q: %q = %q, want %q", s, k, got[k], v[0])
			}
		}
	})
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
