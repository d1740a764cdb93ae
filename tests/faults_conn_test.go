package tests

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A public request whose body stalls after its headers answers 408 with
// the spec's text once the body timeout passes, not 200 after the
// server's whole read timeout.
func TestStalledBody(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b), "SMMAPI_HTTP_BODY_TIMEOUT=1s")
		c := mustDial(t, s.Public)
		start := time.Now()
		io.WriteString(c, "POST /api/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nkey=0123")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to a stalled body: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		took := time.Since(start)
		t.Logf("stalled body answered after %v", took.Round(time.Millisecond))
		if resp.StatusCode != http.StatusRequestTimeout || string(body) != `{"error":"Incorrect request"}` {
			t.Errorf("stalled body: %d %s, want 408 {\"error\":\"Incorrect request\"}", resp.StatusCode, body)
		}
		if took > 5*time.Second {
			t.Errorf("answered after %v with a 1 s body timeout", took)
		}
	})
}

// Past http.max_connections open public connections a new one waits until
// one closes; the internal listener is not limited.
func TestMaxConnections(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b), "SMMAPI_HTTP_MAX_CONNECTIONS=2")
		var held []net.Conn
		for i := 0; i < 2; i++ { // two idle keep-alive connections, each served once
			c := mustDial(t, s.Public)
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("connection %d: %v", i, err)
			}
			resp.Body.Close()
			held = append(held, c)
		}
		fresh := func(timeout time.Duration) error {
			cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := cl.Get(s.Public + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err
		}
		if err := fresh(500 * time.Millisecond); err == nil {
			t.Fatal("a third public connection was served while two were open")
		}
		if r := s.Admin(t, "GET", "/healthz", nil); r.Status != 200 {
			t.Errorf("internal listener: %d", r.Status)
		}
		held[0].Close()
		if err := fresh(5 * time.Second); err != nil {
			t.Fatalf("not served after a connection closed: %v", err)
		}
		held[1].Close()
	})
}

func mustDial(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
