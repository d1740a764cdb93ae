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
// object on a 1000-service catalog, per call, the plain answer written to
// io.Discard: the common answer (the baseline: its pre-serialized body);
// 1000 accounts with their own prices (distinct lists) served from the LRU,
// with one own price each ("own") or also a 5% discount (every rate
// differs: "own+discount"); and the same with an LRU too small to keep any
// list (every call builds one: "miss"). heapMB is the heap with every
// list kept. Run:
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
	pricing := func(discount model.Percent) func(i int) service.Pricing {
		return func(i int) service.Pricing {
			return service.Pricing{UserID: uint64(i%accounts + 1), Rev: 1, Own: true, Discount: discount}
		}
	}
	run := func(name string, cacheBytes int, gz bool, p func(i int) service.Pricing) {
		b.Run(name, func(b *testing.B) {
			svc := service.NewServices(db, db, NewMemoryBus(), now, cacheBytes)
			for i := range accounts { // warm: every list built once
				if _, err := svc.Do(ctx, p(i), 3, gz); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ResetTimer()
			var n int
			for i := range b.N {
				body, err := svc.Do(ctx, p(i), 3, gz)
				if err != nil {
					b.Fatal(err)
				}
				if gz {
					n = len(body.Gzip)
				} else if err := body.WriteJSON(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			if gz {
				b.ReportMetric(float64(n)/1024, "gzKB")
			}
			b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heapMB")
		})
	}
	common := func(int) service.Pricing { return service.Pricing{} }
	run("common/plain", 64<<20, false, common)
	run("common/gzip", 64<<20, true, common)
	run("own/plain", 64<<20, false, pricing(0))
	run("own/gzip", 64<<20, true, pricing(0))
	run("own+discount/plain", 64<<20, false, pricing(5_00))
	run("own+discount/gzip", 64<<20, true, pricing(5_00))
	run("own/plain/miss", 1, false, pricing(0))
	run("own/gzip/miss", 1, true, pricing(0))
}
