package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

// BenchmarkServicesPriceLists measures the services action's service
// object on a 1000-service catalog: the common answer (the baseline: its
// pre-serialized body), accounts with their own price lists served from the
// LRU (1000 accounts, distinct lists), and the same with an LRU too small
// to hold them (every request builds its list). Run:
//
//	go test ./store -run '^$' -bench ServicesPriceLists -benchtime 2000x
func BenchmarkServicesPriceLists(b *testing.B) {
	ctx := context.Background()
	now := func() time.Time { return time.Now().UTC() }
	db, err := Open(ctx, SQLite, filepath.Join(b.TempDir(), "bench.db"), Options{MaxOpenConns: 1, Now: now},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const services, accounts = 1000, 1000
	err = db.g.Transaction(func(tx *gorm.DB) error {
		for i := range services {
			s := model.Service{Name: fmt.Sprintf("Instagram followers, real, refill 30 days #%d", i), Type: "Default",
				Category: fmt.Sprintf("Instagram %d", i%20), Rate: model.Money(10000 + i*37), Min: 10, Max: 100000,
				Refill: true, Enabled: true, Description: "Start 0-1h, speed 10k/day"}
			if err := tx.Create(&s).Error; err != nil {
				return err
			}
		}
		for i := range accounts {
			u := model.User{Username: fmt.Sprintf("u%d", i), PriceRev: 1, PriceCount: 1}
			if err := tx.Create(&u).Error; err != nil {
				return err
			}
			if err := tx.Create(&model.UserPrice{UserID: u.ID, ServiceID: uint64(i%services + 1), Rate: model.Money(5000 + i)}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	pricing := func(n int) func(i int) service.Pricing {
		return func(i int) service.Pricing { return service.Pricing{UserID: uint64(i%n + 1), Rev: 1, Own: true} }
	}
	run := func(name string, cacheBytes int, p func(i int) service.Pricing) {
		b.Run(name, func(b *testing.B) {
			svc := service.NewServices(db, db, NewMemoryBus(), now, cacheBytes)
			for i := range accounts { // warm: every list built once
				if _, err := svc.Do(ctx, p(i), 3); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ResetTimer()
			var n int
			for i := range b.N {
				body, err := svc.Do(ctx, p(i), 3)
				if err != nil {
					b.Fatal(err)
				}
				n = len(body.Gzip)
			}
			b.ReportMetric(float64(n)/1024, "gzKB")
			b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heapMB")
		})
	}
	run("common", 64<<20, func(int) service.Pricing { return service.Pricing{} })
	// A list of this catalog is ~460 KB (v2 and v3, plain and gzipped): 100
	// lists fit 64 MB, 1000 do not, and a cyclic walk over more lists than
	// fit misses every time (LRU).
	run("own-lists-100-in-64MB", 64<<20, pricing(100))
	run("own-lists-1000-in-64MB", 64<<20, pricing(accounts))
}
