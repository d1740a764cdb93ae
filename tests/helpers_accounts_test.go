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

// Helpers for accounts, API keys and sites, and for public calls sent the
// way real clients send them (the PHP class's form body, Node's and
// Python's JSON, a chosen Host, a GET).

// mustProvUser creates an account and returns its ID.
func mustProvUser(tb testing.TB, s *Server, name string) string {
	tb.Helper()
	u := s.MustAdmin(tb, http.StatusCreated, "POST", "/internal/v1/users", map[string]any{"username": name})
	return fmt.Sprint(u["id"])
}

// mustProvPublic posts form to the public /api/v2 with Host set to host
// ("" keeps the listener's address).
func mustProvPublic(tb testing.TB, s *Server, host string, form url.Values) Response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Public+"/api/v2", strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if host != "" {
		req.Host = host
	}
	return Do(tb, req)
}

// mustProvKeyWorks checks key answers the balance action on host.
func mustProvKeyWorks(tb testing.TB, s *Server, key, host, balance string) {
	tb.Helper()
	r := mustProvPublic(tb, s, host, url.Values{"key": {key}, "action": {"balance"}})
	if r.Status != http.StatusOK {
		tb.Errorf("balance on host %q: status %d: %s", host, r.Status, r.Body)
		return
	}
	jsonEqual(tb, r, `{"balance":"`+balance+`","currency":"CNY"}`)
}

// mustProvKeyInvalid checks key answers "Invalid API key" on host.
func mustProvKeyInvalid(tb testing.TB, s *Server, key, host string) {
	tb.Helper()
	r := mustProvPublic(tb, s, host, url.Values{"key": {key}, "action": {"balance"}})
	if r.Status != http.StatusOK {
		tb.Errorf("balance on host %q: status %d, want 200: %s", host, r.Status, r.Body)
		return
	}
	jsonEqual(tb, r, `{"error":"Invalid API key"}`)
}

// mustProvCooldown checks a generation is refused with 429 and a
// retry_after between lo and hi seconds.
func mustProvCooldown(tb testing.TB, s *Server, userID string, site int, lo, hi int64) {
	tb.Helper()
	r := s.Admin(tb, "POST", "/internal/v1/users/"+userID+"/api-keys", map[string]any{"site_id": site})
	if r.Status != http.StatusTooManyRequests {
		tb.Fatalf("generation within the cooldown: status %d, want 429: %s", r.Status, r.Body)
	}
	mustProvRetryAfter(tb, r, lo, hi)
}

// mustProvRetryAfter checks a 429 body {"error","retry_after"} and that
// the Retry-After header says the same.
func mustProvRetryAfter(tb testing.TB, r Response, lo, hi int64) {
	tb.Helper()
	body := r.Obj(tb)
	msg, _ := body["error"].(string)
	ra, err := strconv.ParseInt(fmt.Sprint(body["retry_after"]), 10, 64)
	if len(body) != 2 || msg == "" || err != nil {
		tb.Fatalf("429 body = %s, want {\"error\":\"...\",\"retry_after\":<seconds>}", r.Body)
	}
	if ra < lo || ra > hi {
		tb.Errorf("retry_after = %d, want %d..%d", ra, lo, hi)
	}
	if h := r.Header.Get("Retry-After"); h != strconv.FormatInt(ra, 10) {
		tb.Errorf("Retry-After = %q, want %d", h, ra)
	}
}

// phpClientPost sends params the way the canonical PHP client class of the
// standard API does: name=urlencode(value) pairs joined by "&", POSTed with
// curl (form content type, following redirects, its old user agent).
func phpClientPost(t *testing.T, s *Server, pairs [][2]string) Response {
	t.Helper()
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p[0] + "=" + url.QueryEscape(p[1]) // PHP urlencode: "+" for spaces
	}
	req, err := http.NewRequest(http.MethodPost, s.Public+"/api/v2", strings.NewReader(strings.Join(parts, "&")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Mozilla/4.0 (compatible; MSIE 5.01; Windows NT 5.0)")
	return Do(t, req)
}

// jsonPost sends a JSON body as Node and Python clients do.
func jsonPost(t *testing.T, s *Server, body map[string]any) Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, s.Public+"/api/v2", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return Do(t, req)
}

// publicReq builds a public API request with a raw body and content type.
func publicReq(t *testing.T, s *Server, method, path, contentType, body string) *http.Request {
	t.Helper()
	var r *strings.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	var req *http.Request
	var err error
	if r == nil {
		req, err = http.NewRequest(method, s.Public+path, nil)
	} else {
		req, err = http.NewRequest(method, s.Public+path, r)
	}
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

func multipartBody(t *testing.T, fields map[string]string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	return w.FormDataContentType(), buf.String()
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
