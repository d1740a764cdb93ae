package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SIGTERM during a burst of add requests: the process stops accepting,
// finishes what it started and exits 0; every request that got an order ID
// has its order and its ledger row, and no request got a half answer.
func TestGracefulShutdown(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
		a := s.MustAccount(t, "alice", "100000")
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 100000})

		var mu sync.Mutex
		var ids []string
		var mangled []string
		stop := make(chan struct{})
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 20 * time.Second}
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					form := url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc},
						"link": {fmt.Sprintf("https://x/%d/%d", w, i)}, "quantity": {"100"}}
					resp, err := client.Post(s.Public+"/api/v2", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
					if err != nil {
						return // refused or closed: the server is going away
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						mu.Lock()
						mangled = append(mangled, "cut body: "+err.Error())
						mu.Unlock()
						return
					}
					var out struct{ Order string }
					if resp.StatusCode == 200 && json.Unmarshal(body, &out) == nil && out.Order != "" {
						mu.Lock()
						ids = append(ids, out.Order)
						mu.Unlock()
						continue
					}
					var e struct{ Error string }
					if json.Unmarshal(body, &e) != nil || e.Error == "" {
						mu.Lock()
						mangled = append(mangled, fmt.Sprintf("%d %q", resp.StatusCode, body))
						mu.Unlock()
					}
				}
			}(w)
		}
		time.Sleep(300 * time.Millisecond) // let the burst run
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Fatal("did not exit within 20 s of SIGTERM")
		}
		close(stop)
		wg.Wait()
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		if len(mangled) > 0 {
			t.Errorf("%d half or malformed answers, e.g. %s", len(mangled), mangled[0])
		}
		if len(ids) == 0 {
			t.Fatal("no order was placed before the signal")
		}
		t.Logf("%d orders answered before the stop", len(ids))
		db := env.DB(t)
		for _, id := range ids {
			var orders, ledger int
			db.QueryRow("SELECT COUNT(*) FROM orders WHERE public_id = ?", id).Scan(&orders)
			db.QueryRow("SELECT COUNT(*) FROM ledger_entries WHERE ref = ? AND kind = 'charge'", id).Scan(&ledger)
			if orders != 1 || ledger != 1 {
				t.Fatalf("order %s answered but has %d order rows and %d charge rows", id, orders, ledger)
			}
		}
		var balance, sum int64
		db.QueryRow("SELECT balance FROM users WHERE username = 'alice'").Scan(&balance)
		db.QueryRow("SELECT COALESCE(SUM(amount), 0) FROM ledger_entries l JOIN users u ON u.id = l.user_id WHERE u.username = 'alice'").Scan(&sum)
		if balance != sum {
			t.Errorf("balance %d units, ledger sum %d", balance, sum)
		}
		if !strings.Contains(s.Logs(), `"msg":"stopped"`) {
			t.Error("no clean stop in the log")
		}
	})
}
