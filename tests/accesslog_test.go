package tests

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// accessLine is one access-log line as the operator's log shipper reads it.
type accessLine struct {
	Time       time.Time `json:"time"`
	Level      string    `json:"level"`
	Msg        string    `json:"msg"`
	RequestID  string    `json:"request_id"`
	API        string    `json:"api"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Action     string    `json:"action"`
	Status     int       `json:"status"`
	Outcome    string    `json:"outcome"`
	DurationMS *float64  `json:"duration_ms"`
	RemoteIP   string    `json:"remote_ip"`
	Version    string    `json:"version"`
	AccountID  string    `json:"account_id"`
}

// accessLines waits for the buffered log (flushed every 100 ms) to hold n
// request lines and returns them; every log line must be valid JSON.
func accessLines(t *testing.T, s *Server, n int) []accessLine {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out []accessLine
		for _, raw := range strings.Split(strings.TrimSpace(s.Logs()), "\n") {
			var l accessLine
			if err := json.Unmarshal([]byte(raw), &l); err != nil {
				t.Fatalf("log line is not JSON (%v): %q", err, raw)
			}
			if l.Msg == "request" {
				out = append(out, l)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAccessLog(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		a := s.MustAccount(t, "logged", "10")
		env.Secret(a.Key)

		type call struct {
			method, url, reqID string
			wantPath, action   string
			wantStatus         int
			outcome, version   string
			account            bool
			echoID             bool // the client's X-Request-Id is kept
		}
		calls := []call{
			{"GET", s.Public + "/api/v2?key=" + a.Key + "&action=balance", "trace-1._:-", "/api/v2", "balance", 200, "ok", "v2", true, true},
			{"POST", s.Public + "/api/v3?action=balance&key=" + a.Key, "", "/api/v3", "balance", 200, "ok", "v3", true, false},
			{"GET", s.Public + "/api/v2?key=wrong&action=balance", `bad"id<>`, "/api/v2", "", 200, "unauthorized", "v2", false, false},
			{"GET", s.Public + "/api/v2?key=" + a.Key + "&action=nope", strings.Repeat("x", 65), "/api/v2", "unknown", 200, "invalid", "v2", true, false},
			{"GET", s.Public + "/no/such/path", "", "/no/such/path", "", 404, "http_404", "", false, false},
			{"GET", s.Internal + "/internal/v1/sites", "", "/internal/v1/sites", "/internal/v1/sites", 401, "", "", false, false},
		}
		var gotIDs []string
		for _, c := range calls {
			req, err := http.NewRequest(c.method, c.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.reqID != "" {
				req.Header.Set("X-Request-Id", c.reqID)
			}
			r := Do(t, req)
			if r.Status != c.wantStatus {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.wantPath, r.Status, c.wantStatus, r.Body)
			}
			gotIDs = append(gotIDs, r.Header.Get("X-Request-Id"))
		}
		// Lines are found by the request ID each answer carried.
		byID := map[string][]accessLine{}
		deadline := time.Now().Add(5 * time.Second)
		for {
			byID = map[string][]accessLine{}
			for _, l := range accessLines(t, s, 0) {
				byID[l.RequestID] = append(byID[l.RequestID], l)
			}
			if len(byID[gotIDs[len(gotIDs)-1]]) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
		seen := map[string]bool{}
		for i, c := range calls {
			if n := len(byID[gotIDs[i]]); n != 1 {
				t.Errorf("call %d (%s %s): %d lines with request_id %q, want 1", i, c.method, c.wantPath, n, gotIDs[i])
				continue
			}
			l := byID[gotIDs[i]][0]
			if l.Level != "INFO" || l.Method != c.method || l.Path != c.wantPath || l.Status != c.wantStatus ||
				l.Version != c.version || l.RemoteIP != "127.0.0.1" || l.DurationMS == nil || *l.DurationMS < 0 ||
				time.Since(l.Time) > time.Minute || l.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("line %d: %+v", i, l)
			}
			if c.action != "" && l.Action != c.action {
				t.Errorf("line %d: action %q, want %q", i, l.Action, c.action)
			}
			if c.outcome != "" && l.Outcome != c.outcome {
				t.Errorf("line %d: outcome %q, want %q", i, l.Outcome, c.outcome)
			}
			if c.account != (l.AccountID == a.ID) {
				t.Errorf("line %d: account_id %q (account %s, want logged: %v)", i, l.AccountID, a.ID, c.account)
			}
			if l.RequestID != gotIDs[i] {
				t.Errorf("line %d: request_id %q, answer's X-Request-Id %q", i, l.RequestID, gotIDs[i])
			}
			if c.echoID && l.RequestID != c.reqID {
				t.Errorf("line %d: request_id %q, want the client's %q", i, l.RequestID, c.reqID)
			}
			if !c.echoID && !generated.MatchString(l.RequestID) {
				t.Errorf("line %d: request_id %q is not a generated 32-hex ID (client sent %q)", i, l.RequestID, c.reqID)
			}
			if seen[l.RequestID] {
				t.Errorf("line %d: request_id %q repeated", i, l.RequestID)
			}
			seen[l.RequestID] = true
		}
	})
}
