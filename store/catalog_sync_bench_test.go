package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
	"smmapi/upstream"
)

// syncOutcomes records the catalog sync's outcomes.
type syncOutcomes struct{ last atomic.Value }

func (r *syncOutcomes) CatalogSync(_ uint64, outcome string) { r.last.Store(outcome) }

// syncCatalog is a fake supplier catalog of n services "1".."n": base
// rates, or (changed) every 10th rate 20% up and every 20th service gone.
func syncCatalog(n int, changed bool) []byte {
	var b strings.Builder
	b.WriteByte('[')
	first := true
	for i := 1; i <= n; i++ {
		if changed && i%20 == 5 {
			continue
		}
		rate := model.Money(1000 + i) // supplier units of 0.0001
		if changed && i%10 == 0 {
			rate = rate * 12 / 10
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, `{"service":"%d","name":"Upstream %d","type":"Default","category":"Up %d","rate":"%s","min":10,"max":100000,"refill":true,"cancel":false}`,
			i, i, i%20, rate)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// BenchmarkCatalogSync measures one catalog sync round of a supplier whose
// 3000-service catalog backs 3000 synced services, on each backend: a
// round where nothing changed, and rounds where about 15% of the services
// change (every 10th rate, every 20th service vanishing, then all back).
// A fake supplier on loopback answers. Run:
//
//	SMMAPI_TEST_MYSQL_DSN=… go test ./store -run '^$' -bench CatalogSync -benchtime 5x
func BenchmarkCatalogSync(b *testing.B) {
	const n = 3000
	ctx := context.Background()
	for name, db := range mustDBs(b) {
		b.Run(name, func(b *testing.B) {
			var answer atomic.Pointer[[]byte]
			base, changed := syncCatalog(n, false), syncCatalog(n, true)
			answer.Store(&base)
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write(*answer.Load())
			}))
			defer fake.Close()
			sealer, err := NewSealer(strings.Repeat("ab", 32))
			if err != nil {
				b.Fatal(err)
			}
			key, _ := sealer.Seal([]byte("fake-key"))
			due := time.Now().UTC().Add(-time.Minute)
			sup := model.Supplier{Name: "fake", APIURL: fake.URL, KeyCipher: key, Enabled: true, CurrencyRate: 72000, NextAt: &due}
			pct := model.Percent(3000)
			err = db.g.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&sup).Error; err != nil {
					return err
				}
				ss := make([]model.Service, n)
				for i := range ss {
					supRate := model.Money(1000 + i + 1)
					rate, err := service.RuleRate(supRate.Decimal(), sup.CurrencyRate, service.PriceRule{MarkupPercent: pct})
					if err != nil {
						return err
					}
					ss[i] = model.Service{Name: fmt.Sprintf("S%d", i+1), Type: "Default", Category: "IG", Rate: rate, Min: 10, Max: 100000,
						Refill: true, Enabled: true, SupplierID: &sup.ID, SupplierService: fmt.Sprint(i + 1), MarkupPercent: &pct,
						Sync: true, SupplierRate: supRate.Decimal().String()}
				}
				return tx.CreateInBatches(ss, 500).Error
			})
			if err != nil {
				b.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			now := func() time.Time { return time.Now().UTC() }
			up := upstream.New(30 * time.Second)
			rec := &syncOutcomes{}
			// A negative interval: the supplier is due again at once.
			cs := service.NewCatalogSync(db, service.NewSuppliers(db, sealer, up, "CNY", now), up,
				service.NewInvalidator(nil, nil, log), rec, log, now, -time.Second, 100, 30*time.Second)
			round := func(want string) {
				b.Helper()
				if k, err := cs.Round(ctx); err != nil || k != 1 {
					b.Fatalf("round: %d suppliers, %v", k, err)
				}
				if got := rec.last.Load(); got != want {
					b.Fatalf("round: %v, want %s", got, want)
				}
			}
			round("unchanged") // the import's rates are the supplier's
			b.Run("unchanged", func(b *testing.B) {
				for range b.N {
					round("unchanged")
				}
			})
			b.Run("15%-changed", func(b *testing.B) {
				for range b.N {
					if answer.Load() == &base { // flips across the framework's runs too
						answer.Store(&changed)
					} else {
						answer.Store(&base)
					}
					round("applied")
				}
			})
		})
	}
}
