package api

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// Benchmarks of the lazily armed budget against context.WithDeadline, per
// request; interleave rounds as in store/limiter_bench_test.go:
//
//	go test -c -o /tmp/api.test ./api
//	for i in 1 2 3 4 5 6 7 8; do /tmp/api.test -test.run '^$' -test.bench Budget; done > new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl new.txt
//
// cached: a request served from memory, which only reads its context's
// values and error; database: one whose database call waits on Done, as
// database/sql and the MySQL driver do. They assert nothing about time.
func BenchmarkBudget(b *testing.B) {
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, 1)
	// Each runs one request as requestTimeout does (a deferred stop there).
	impls := []struct {
		name string
		one  func(do func(context.Context))
	}{
		{"budget", func(do func(context.Context)) {
			bg := newBudget(parent, time.Now().Add(requestBudget))
			do(bg)
			bg.stop()
		}},
		{"withdeadline", func(do func(context.Context)) {
			ctx, cancel := context.WithDeadline(parent, time.Now().Add(requestBudget))
			do(ctx)
			cancel()
		}},
	}
	request := map[string]func(ctx context.Context){
		"cached": func(ctx context.Context) {
			if ctx.Value(key{}) == nil || ctx.Err() != nil {
				panic("bad context")
			}
		},
		"database": func(ctx context.Context) {
			select {
			case <-ctx.Done():
				panic("done early")
			default:
			}
			if ctx.Value(key{}) == nil || ctx.Err() != nil {
				panic("bad context")
			}
		},
	}
	for _, path := range []string{"cached", "database"} {
		for _, mode := range []string{"serial", "parallel"} {
			for _, impl := range impls {
				b.Run("path="+path+"/run="+mode+"/impl="+impl.name, func(b *testing.B) {
					b.ReportAllocs()
					cpu0 := cpuTime()
					defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
					do := request[path]
					if mode == "serial" {
						for i := 0; i < b.N; i++ {
							impl.one(do)
						}
						return
					}
					b.SetParallelism(32) // many requests in flight, as at 64 connections
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							impl.one(do)
						}
					})
				})
			}
		}
	}
}

// cpuTime is the CPU time this process has used: other load on the
// machine stretches ns/op but not this.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
