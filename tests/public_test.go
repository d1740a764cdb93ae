package tests

import (
	"bytes"
	"strings"
	"testing"
)

// Transport: every encoding and path form reaches the same action; bad
// bodies, bad keys and bad actions answer the spec's texts in the spec's order.
func TestPublicTransport(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		a := s.MustAccount(t, "alice", "12.5")
		const bal = `{"balance":"12.5000","currency":"CNY"}`
		mpType, mpBody := multipartBody(t, map[string]string{"key": a.Key, "action": "balance"})
		form := "key=" + a.Key + "&action=balance"
		tests := []struct {
			name        string
			method      string
			path        string
			contentType string
			body        string
			wantStatus  int
			want        string
		}{
			{"form v2", "POST", "/api/v2", "application/x-www-form-urlencoded", form, 200, bal},
			{"form v3 slash", "POST", "/api/v3/", "application/x-www-form-urlencoded", form, 200, bal},
			{"form charset", "POST", "/api/v2", "application/x-www-form-urlencoded; charset=UTF-8", form, 200, bal},
			{"form without content type", "POST", "/api/v2", "", form, 200, bal},
			{"multipart", "POST", "/api/v2", mpType, mpBody, 200, bal},
			{"json", "POST", "/api/v2", "application/json", `{"key":"` + a.Key + `","action":"balance"}`, 200, bal},
			{"json charset", "POST", "/api/v3", "application/json; charset=utf-8", `{"key":"` + a.Key + `","action":"balance","extra":null}`, 200, bal},
			{"get query", "GET", "/api/v2?" + form, "", "", 200, bal},
			{"post query only", "POST", "/api/v2/?" + form, "", "", 200, bal},
			{"body wins over query", "POST", "/api/v2?action=nope&key=" + a.Key, "application/x-www-form-urlencoded", "action=balance", 200, bal},
			{"missing key", "POST", "/api/v2", "application/x-www-form-urlencoded", "action=balance", 200, `{"error":"Invalid API key"}`},
			{"unknown key", "POST", "/api/v2", "application/x-www-form-urlencoded", "key=0123456789abcdef0123456789abcdef&action=balance", 200, `{"error":"Invalid API key"}`},
			{"key wrong shape", "POST", "/api/v2", "application/x-www-form-urlencoded", "key=" + strings.ToUpper(a.Key) + "&action=balance", 200, `{"error":"Invalid API key"}`},
			{"key as json number", "POST", "/api/v2", "application/json", `{"key":12345,"action":"balance"}`, 200, `{"error":"Invalid API key"}`},
			{"missing action", "POST", "/api/v2", "application/x-www-form-urlencoded", "key=" + a.Key, 200, `{"error":"Incorrect request"}`},
			{"unknown action", "POST", "/api/v2", "application/x-www-form-urlencoded", form + "x", 200, `{"error":"Incorrect request"}`},
			{"bad key before bad action", "POST", "/api/v2", "application/x-www-form-urlencoded", "key=nope&action=nope", 200, `{"error":"Invalid API key"}`},
			{"malformed json beats bad key", "POST", "/api/v2", "application/json", `{"key":"nope",`, 200, `{"error":"Incorrect request"}`},
			{"json array", "POST", "/api/v2", "application/json", `["key"]`, 200, `{"error":"Incorrect request"}`},
			{"json nested object", "POST", "/api/v2", "application/json", `{"key":"` + a.Key + `","action":{"a":1}}`, 200, `{"error":"Incorrect request"}`},
			{"json trailing data", "POST", "/api/v2", "application/json", `{"key":"` + a.Key + `","action":"balance"} x`, 200, `{"error":"Incorrect request"}`},
			{"bad percent encoding", "POST", "/api/v2", "application/x-www-form-urlencoded", "key=%zz&action=balance", 200, `{"error":"Incorrect request"}`},
			{"bad query encoding", "GET", "/api/v2?key=%zz", "", "", 200, `{"error":"Incorrect request"}`},
			{"text plain", "POST", "/api/v2", "text/plain", form, 200, `{"error":"Incorrect request"}`},
			{"multipart without boundary", "POST", "/api/v2", "multipart/form-data", mpBody, 200, `{"error":"Incorrect request"}`},
			{"body too large", "POST", "/api/v2", "application/x-www-form-urlencoded", form + "&comments=" + strings.Repeat("a", 1<<20), 413, `{"error":"Incorrect request"}`},
			{"unknown path", "POST", "/api/v4", "application/x-www-form-urlencoded", form, 404, `{"error":"Not found"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := Do(t, publicReq(t, s, tt.method, tt.path, tt.contentType, tt.body))
				if r.Status != tt.wantStatus {
					t.Errorf("status %d, want %d: %s", r.Status, tt.wantStatus, r.Body)
				}
				if r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("content type %q", r.Header.Get("Content-Type"))
				}
				if bytes.HasSuffix(r.Body, []byte("\n")) {
					t.Errorf("body ends with a newline: %q", r.Body)
				}
				jsonEqual(t, r, tt.want)
			})
		}
		// Byte-exact error bodies.
		r := Do(t, publicReq(t, s, "POST", "/api/v2", "application/x-www-form-urlencoded", "action=balance"))
		golden(t, "error_invalid_key.json", r.Body)
	})
}
