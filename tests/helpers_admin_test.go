package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for the internal API as such: raw requests, error bodies, lists
// and their cursors, timestamps, and bursts of concurrent requests.

// mustProvRaw sends one request to base+path with a raw Authorization
// header ("" sends none); body is sent as is if a string, else as JSON.
func mustProvRaw(tb testing.TB, base, method, path, auth string, body any) Response {
	tb.Helper()
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return Do(tb, req)
}

// provSend is a request safe to make from any goroutine: it reports
// failures instead of stopping the test.
func provSend(s *Server, method, path string, body any) (Response, error) {
	j, err := json.Marshal(body)
	if err != nil {
		return Response{}, err
	}
	req, err := http.NewRequest(method, s.Internal+path, bytes.NewReader(j))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.env.Token)
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// mustProvList GETs one page of a list and checks its shape.
func mustProvList(tb testing.TB, s *Server, path string) (items []map[string]any, next string) {
	tb.Helper()
	r := s.Admin(tb, "GET", path, nil)
	if r.Status != http.StatusOK {
		tb.Fatalf("GET %s: status %d: %s", path, r.Status, r.Body)
	}
	body := r.Obj(tb)
	if len(body) != 2 {
		tb.Errorf("GET %s: keys of %s, want items and next_cursor", path, r.Body)
	}
	raw, ok := body["items"].([]any)
	if !ok {
		tb.Fatalf("GET %s: items is not an array: %s", path, r.Body)
	}
	next, ok = body["next_cursor"].(string)
	if !ok {
		tb.Fatalf("GET %s: next_cursor is not a string: %s", path, r.Body)
	}
	for _, it := range raw {
		m, ok := it.(map[string]any)
		if !ok {
			tb.Fatalf("GET %s: item %v is not an object", path, it)
		}
		items = append(items, m)
	}
	return items, next
}

// mustProvWalk follows a list's cursors with limit and returns the pages.
func mustProvWalk(tb testing.TB, s *Server, path string, limit int) [][]map[string]any {
	tb.Helper()
	var pages [][]map[string]any
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	cursor := ""
	for i := 0; ; i++ {
		if i > 1000 {
			tb.Fatalf("GET %s: more than 1000 pages", path)
		}
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		items, next := mustProvList(tb, s, path+sep+q.Encode())
		pages = append(pages, items)
		if next == "" {
			return pages
		}
		cursor = next
	}
}

// admWalk follows a list's cursors from path and returns every item; each
// page must hold at most the limit asked for.
func admWalk(t *testing.T, s *Server, path string) []map[string]any {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	limit := 50
	if l := q.Get("limit"); l != "" {
		fmt.Sscan(l, &limit)
	}
	limit = min(limit, 500)
	var out []map[string]any
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%s: more than 1000 pages", path)
		}
		page := s.MustAdmin(t, http.StatusOK, "GET", u.Path+"?"+q.Encode(), nil)
		items, ok := page["items"].([]any)
		if !ok {
			t.Fatalf("%s: items is %T, want a list", path, page["items"])
		}
		if len(items) > limit {
			t.Fatalf("%s: %d items on a page, limit %d", path, len(items), limit)
		}
		for _, it := range items {
			out = append(out, it.(map[string]any))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			return out
		}
		if len(items) != limit {
			t.Errorf("%s: a page of %d items with a next cursor, want a full page of %d", path, len(items), limit)
		}
		q.Set("cursor", next)
	}
}

// admIDs returns the "id" field of each item, in order.
func admIDs(items []map[string]any) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = fmt.Sprint(it["id"])
	}
	return ids
}

// admReq is one request of a concurrent burst.
type admReq struct {
	method, url, body string
	header            map[string]string
}

// admInternal is a request to the internal API with the env's token.
func admInternal(s *Server, method, path, body string) admReq {
	return admReq{method: method, url: s.Internal + path, body: body,
		header: map[string]string{"Authorization": "Bearer " + s.env.Token, "Content-Type": "application/json"}}
}

// admBurst sends every request at once (released together) and returns
// their answers in the order given. It never calls t.Fatal off the test's
// goroutine.
func admBurst(t *testing.T, reqs []admReq) []Response {
	t.Helper()
	out := make([]Response, len(reqs))
	errs := make([]error, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			req, err := http.NewRequest(r.method, r.url, strings.NewReader(r.body))
			if err != nil {
				errs[i] = err
				return
			}
			for k, v := range r.header {
				if k == "Host" {
					req.Host = v
					continue
				}
				req.Header.Set(k, v)
			}
			<-start
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			out[i], errs[i] = Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s %s: %v", reqs[i].method, reqs[i].url, err)
		}
	}
	return out
}

var admTimePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// admTime checks an RFC 3339 UTC time with a Z, near now.
func admTime(t *testing.T, v any, what string) time.Time {
	t.Helper()
	s, _ := v.(string)
	if !admTimePattern.MatchString(s) {
		t.Errorf("%s = %v, want RFC 3339 UTC with Z", what, v)
		return time.Time{}
	}
	at, _ := time.Parse(time.RFC3339, s)
	if d := time.Since(at); d < -time.Minute || d > 10*time.Minute {
		t.Errorf("%s = %s, not near now", what, s)
	}
	return at
}

// mustProvTime checks v is an RFC 3339 UTC time with a Z, not before
// notBefore and not in the future.
func mustProvTime(tb testing.TB, v any, notBefore time.Time) time.Time {
	tb.Helper()
	s, ok := v.(string)
	if !ok || !strings.HasSuffix(s, "Z") {
		tb.Errorf("time %v is not an RFC 3339 string ending in Z", v)
		return time.Time{}
	}
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Errorf("time %q: %v", s, err)
		return time.Time{}
	}
	if tm.Before(notBefore.Add(-time.Second)) || tm.After(time.Now().Add(time.Minute)) {
		tb.Errorf("time %s is not around now (%s)", s, notBefore.Format(time.RFC3339))
	}
	return tm
}

// mustErr checks an internal API error answer: status want and a body of
// exactly one non-empty "error" string. what names the call ("" for none).
func mustErr(tb testing.TB, r Response, want int, what string) {
	tb.Helper()
	if what != "" {
		what += ": "
	}
	if r.Status != want {
		tb.Errorf("%sstatus %d, want %d: %s", what, r.Status, want, r.Body)
		return
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		tb.Errorf("%serror body is not a JSON object: %v: %q", what, err, r.Body)
		return
	}
	msg, ok := body["error"].(string)
	if !ok || msg == "" || len(body) != 1 {
		tb.Errorf("%serror body = %s, want {\"error\":\"<text>\"}", what, r.Body)
	}
}
