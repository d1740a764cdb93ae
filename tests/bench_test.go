package tests

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// Benchmarks of the public hot paths through the real binary and HTTP stack,
// on SQLite and (when configured) MariaDB + Redis:
//
//	go test ./tests/ -run '^$' -bench . -benchtime 3s
//
// They measure; they assert nothing about time.

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

func benchBackends(b *testing.B) []Backend {
	bs := []Backend{{Name: "sqlite"}}
	dsn, raddr := os.Getenv("SMMAPI_TEST_MYSQL_DSN"), os.Getenv("SMMAPI_TEST_REDIS_ADDR")
	if dsn != "" && raddr != "" && reachable(dsn, raddr) == nil {
		bs = append(bs, Backend{Name: "mysql", MySQLDSN: dsn, RedisAddr: raddr})
	}
	return bs
}

// benchPost sends one form and fails the benchmark on a non-200 or an error body.
func benchPost(b *testing.B, u string, form string) []byte {
	resp, err := benchClient.Post(u, "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.HasPrefix(string(body), `{"error"`) {
		b.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	return body
}

func BenchmarkAdd(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(be.Name, func(b *testing.B) {
			env := MustEnv(b, be)
			s := MustStart(b, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
			a := s.MustAccount(b, "bench", "10000000")
			svc := s.MustService(b, map[string]any{"rate": "0.0100", "min": 1, "max": 1000000})
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					benchPost(b, s.Public+"/api/v2", fmt.Sprintf("key=%s&action=add&service=%s&link=https://x/%d&quantity=100", a.Key, svc, n.Add(1)))
				}
			})
		})
	}
}

func BenchmarkStatus(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(be.Name, func(b *testing.B) {
			env := MustEnv(b, be)
			s := MustStart(b, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
			a := s.MustAccount(b, "bench", "10000000")
			svc := s.MustService(b, map[string]any{"rate": "0.0100", "min": 1, "max": 1000000})
			ids := make([]string, 100)
			for i := range ids {
				r := s.Post(b, "/api/v2", url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc}, "link": {fmt.Sprint("https://x/", i)}, "quantity": {"100"}})
				ids[i] = fmt.Sprint(r.Obj(b)["order"])
			}
			for _, tc := range []struct {
				name string
				form string
			}{
				{"1ID", "key=" + a.Key + "&action=status&order=" + ids[0]},
				{"100IDs", "key=" + a.Key + "&action=status&orders=" + strings.Join(ids, ",")},
			} {
				b.Run(tc.name, func(b *testing.B) {
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							benchPost(b, s.Public+"/api/v2", tc.form)
						}
					})
				})
			}
		})
	}
}

func BenchmarkServices3000(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(be.Name, func(b *testing.B) {
			env := MustEnv(b, be)
			s := MustStart(b, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
			a := s.MustAccount(b, "bench", "1")
			for i := 0; i < 3000; i++ {
				s.MustService(b, map[string]any{"name": fmt.Sprint("Service ", i), "category": fmt.Sprint("Category ", i%40), "description": "Fast start, 30 days refill"})
			}
			for _, v := range []string{"v2", "v3"} {
				b.Run(v, func(b *testing.B) {
					b.ReportAllocs()
					var size int
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							size = len(benchPost(b, s.Public+"/api/"+v, "key="+a.Key+"&action=services"))
						}
					})
					b.SetBytes(int64(size))
				})
			}
		})
	}
}
