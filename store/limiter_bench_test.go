package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Benchmarks of the hand-written limiters against the library-based ones,
// in the same run (compare with benchstat -col /impl):
//
//	SMMAPI_TEST_REDIS_ADDR=127.0.0.1:6379 go test ./store -run '^$' -bench Allow -count 6
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

func benchAllow(b *testing.B, impls []struct {
	name string
	lim  allower
}, parallelism int) {
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
					defer func() { b.ReportMetric(float64(errs.Load())/float64(b.N), "errs/op") }()
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
	var rnd [6]byte
	rand.Read(rnd[:])
	prefix := "smmapi:bench:" + hex.EncodeToString(rnd[:]) + ":"
	b.Cleanup(func() { mustDelPrefix(b, rdb, prefix) })
	benchAllow(b, []struct {
		name string
		lim  allower
	}{
		{"script", NewRedisLimiter(rdb, prefix, nil)},
		{"redis_rate", newLibRedisLimiter(rdb, prefix, nil)},
	}, 8)
}

func BenchmarkMemoryAllow(b *testing.B) {
	benchAllow(b, []struct {
		name string
		lim  allower
	}{
		{"gcra", NewMemoryLimiter(time.Now)},
		{"xrate", newLibMemoryLimiter(time.Now)},
		{"xrate_syncmap", &syncMapLimiter{now: time.Now}},
	}, 1)
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
