package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Benchmarks of the hand-written limiters against the library-based ones,
// in the same run. -count repeats each sub-benchmark back to back, so on a
// busy machine interleave the rounds instead and compare with benchstat:
//
//	go test -c -o /tmp/store.test ./store
//	for i in 1 2 3 4 5 6 7 8; do SMMAPI_TEST_REDIS_ADDR=127.0.0.1:6379 \
//	  /tmp/store.test -test.run '^$' -test.bench Allow -test.benchmem; done > new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl new.txt
//
// They measure; they assert nothing about time.

type allower interface {
	Allow(ctx context.Context, name string, rate, burst int) (bool, time.Duration, error)
}

// benchCase is one load shape: a hot key always allowed, many keys always
// allowed, or a hot key over its limit (every call refused).
type benchCase struct {
	name        string
	keys        int
	rate, burst int
}

var benchCases = []benchCase{
	{"hot", 1, 1_000_000, 1_000_000},
	{"many", 10_000, 1_000_000, 1_000_000},
	{"refused", 1, 1, 1},
}

// benchAllow runs every case on every implementation. Besides ns/op it
// reports cpu-ns/op, this process' CPU time (robust to other load taking
// the cores) and, when server is set, server-ns/op: the time Redis spent
// in scripts, from INFO commandstats.
func benchAllow(b *testing.B, impls []struct {
	name string
	lim  allower
}, parallelism int, server func() time.Duration) {
	ctx := context.Background()
	for _, c := range benchCases {
		names := make([]string, c.keys)
		for i := range names {
			names[i] = "ip:198.51." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
		}
		for _, mode := range []string{"serial", "parallel"} {
			for _, impl := range impls {
				b.Run("keys="+c.name+"/run="+mode+"/impl="+impl.name, func(b *testing.B) {
					b.ReportAllocs()
					var next, errs atomic.Int64
					cpu0, srv0 := cpuTime(), time.Duration(0)
					if server != nil {
						srv0 = server()
					}
					defer func() {
						b.ReportMetric(float64(errs.Load())/float64(b.N), "errs/op")
						b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
						if server != nil {
							b.ReportMetric(float64(server()-srv0)/float64(b.N), "server-ns/op")
						}
					}()
					if mode == "serial" {
						for i := 0; i < b.N; i++ {
							if _, _, err := impl.lim.Allow(ctx, names[i%len(names)], c.rate, c.burst); err != nil {
								errs.Add(1)
							}
						}
						return
					}
					b.SetParallelism(parallelism)
					b.RunParallel(func(pb *testing.PB) {
						i := int(next.Add(7919)) // each goroutine starts elsewhere among the keys
						for pb.Next() {
							i++
							if _, _, err := impl.lim.Allow(ctx, names[i%len(names)], c.rate, c.burst); err != nil {
								errs.Add(1) // a timeout under load: counted, as production fails open
							}
						}
					})
				})
			}
		}
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	addr := os.Getenv("SMMAPI_TEST_REDIS_ADDR")
	if addr == "" {
		b.Skip("SMMAPI_TEST_REDIS_ADDR not set")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { rdb.Close() })
	prefix := randomPrefix("smmapi:bench:")
	b.Cleanup(func() { mustDelPrefix(b, rdb, prefix) })
	benchAllow(b, []struct {
		name string
		lim  allower
	}{
		{"script", NewRedisLimiter(rdb, prefix, nil)},
		{"redis_rate", newLibRedisLimiter(rdb, prefix, nil)},
	}, 8, func() time.Duration { return scriptTime(b, rdb) })
}

func BenchmarkMemoryAllow(b *testing.B) {
	benchAllow(b, []struct {
		name string
		lim  allower
	}{
		{"gcra", NewMemoryLimiter(time.Now)},
		{"xrate", newLibMemoryLimiter(time.Now)},
		{"xrate_syncmap", &syncMapLimiter{now: time.Now}},
	}, 1, nil)
}

// randomPrefix is a key prefix of its own under base, for one test or run.
func randomPrefix(base string) string {
	var b [6]byte
	rand.Read(b[:])
	return base + hex.EncodeToString(b[:]) + ":"
}

// mustDelPrefix deletes every key under prefix (never FLUSH: Redis is shared).
func mustDelPrefix(tb testing.TB, rdb redis.UniversalClient, prefix string) {
	tb.Helper()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Errorf("delete %s*: %v", prefix, err)
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scriptTime is the time Redis has spent in EVAL and EVALSHA so far.
func scriptTime(tb testing.TB, rdb redis.UniversalClient) time.Duration {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var usec int64
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "cmdstat_eval:") && !strings.HasPrefix(line, "cmdstat_evalsha:") {
			continue
		}
		for _, f := range strings.Split(strings.TrimSpace(line[strings.IndexByte(line, ':')+1:]), ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				usec += n
			}
		}
	}
	return time.Duration(usec) * time.Microsecond
}
