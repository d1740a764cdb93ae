package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strconv"
	"testing"
	"time"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

// smallWrites accepts at most 7 bytes per Write, as a slow socket might.
type smallWrites struct{ b bytes.Buffer }

func (w *smallWrites) Write(p []byte) (int, error) {
	for len(p) > 0 {
		n := min(7, len(p))
		w.b.Write(p[:n])
		p = p[n:]
	}
	return 0, nil
}

// A price list's answer, written from the common answer's pieces and the
// list's rates, is byte for byte the catalog serialized at the account's
// rates (encoding/json), plain and gzipped, v2 and v3, for random own
// prices and discounts over a catalog whose names hold quotes, escapes,
// non-ASCII and the rate key's own text.
func TestPriceListBytes(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return time.Now().UTC() }
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			r := mrand.New(mrand.NewPCG(7, 19))
			names := []string{`Plain`, `Quote " and \ backslash`, `,"rate":"1.0000","x":"`, `<b>&amp;</b>`, "粉丝 ✓ \u2028",
				"tab\there", `rate`, ""}
			rates := []model.Money{0, 1, 9999, 10000, 12345, 85000, 99_999_9999, 1_000_000_0000}
			const n = 700 // answers of 130–170 KB: writes cross the 64 KB buffer's bound
			err := db.g.Transaction(func(tx *gorm.DB) error {
				for i := range n {
					// i%11 == 5: disabled (own prices on them are left out)
					s := model.Service{Name: names[i%len(names)] + strconv.Itoa(i), Type: "Default", Category: names[r.IntN(len(names))],
						Rate: rates[r.IntN(len(rates))] + model.Money(r.IntN(3)), Min: 10, Max: int64(100 + i), Refill: i%3 == 0,
						Dripfeed: i%4 == 0, Enabled: i%11 != 5, Description: names[(i+3)%len(names)]}
					if err := tx.Create(&s).Error; err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			type account struct {
				p   service.Pricing
				own map[uint64]model.Money
			}
			var accounts []account
			discounts := []model.Percent{0, 1, 5_00, 12_34, 33_33, 50_00, 99_99, 100_00}
			for i := range 40 {
				u := model.User{Username: fmt.Sprintf("p%d", i)}
				if err := db.CreateUser(ctx, &u); err != nil {
					t.Fatal(err)
				}
				a := account{p: service.Pricing{UserID: u.ID, Discount: discounts[i%len(discounts)], Rev: 1}, own: map[uint64]model.Money{}}
				for range r.IntN(3) * r.IntN(20) { // none, a few or many; some on disabled services
					id := uint64(1 + r.IntN(n))
					rate := rates[r.IntN(len(rates))] + model.Money(r.IntN(100))
					if err := db.PutUserPrice(ctx, &model.UserPrice{UserID: u.ID, ServiceID: id, Rate: rate}); err != nil {
						t.Fatal(err)
					}
					a.own[id] = rate
				}
				a.p.Own = len(a.own) > 0
				if a.p.Common() {
					a.p.Discount = 1 // every account here has a list
				}
				accounts = append(accounts, a)
			}
			rows, err := db.EnabledServices(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := func(a account, version int) []byte {
				v2 := make([]service.ServiceV2, len(rows))
				v3 := make([]service.ServiceV3, len(rows))
				for i, s := range rows {
					o, ok := a.own[s.ID]
					v2[i] = service.ServiceV2{Service: strconv.FormatUint(s.ID, 10), Name: s.Name, Type: s.Type, Category: s.Category,
						Rate: a.p.Rate(s.Rate, o, ok), Min: strconv.FormatInt(s.Min, 10), Max: strconv.FormatInt(s.Max, 10),
						Refill: s.Refill, Cancel: s.Cancel}
					v3[i] = service.ServiceV3{ServiceV2: v2[i], Dripfeed: s.Dripfeed, Desc: s.Description}
				}
				var b []byte
				if version == 2 {
					b, err = json.Marshal(v2)
				} else {
					b, err = json.Marshal(v3)
				}
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			svc := service.NewServices(db, db, NewMemoryBus(), now, 64<<20)
			for round := range 2 { // built, then from the LRU
				for _, a := range accounts {
					for _, version := range []int{2, 3} {
						w := want(a, version)
						plain, err := svc.Do(ctx, a.p, version, false)
						if err != nil {
							t.Fatal(err)
						}
						if plain.JSON != nil {
							t.Fatalf("account %d: the common answer", a.p.UserID)
						}
						if plain.Len() != len(w) {
							t.Fatalf("account %d (%+v), v%d: Len %d, want %d", a.p.UserID, a.p, version, plain.Len(), len(w))
						}
						var direct bytes.Buffer
						small := &smallWrites{}
						if err := plain.WriteJSON(&direct); err != nil {
							t.Fatal(err)
						}
						plain.WriteJSON(small)
						gz, err := svc.Do(ctx, a.p, version, true)
						if err != nil {
							t.Fatal(err)
						}
						zr, err := gzip.NewReader(bytes.NewReader(gz.Gzip))
						if err != nil {
							t.Fatal(err)
						}
						unz, err := io.ReadAll(zr)
						if err != nil {
							t.Fatal(err)
						}
						for what, got := range map[string][]byte{"appended": plain.AppendJSON(nil), "written": direct.Bytes(),
							"written in small pieces": small.b.Bytes(), "gunzipped": unz} {
							if !bytes.Equal(got, w) {
								i := 0
								for i < min(len(got), len(w)) && got[i] == w[i] {
									i++
								}
								t.Fatalf("round %d, account %d (%+v, %d own), v%d, %s: differs at byte %d of %d/%d: …%.80s… want …%.80s…",
									round, a.p.UserID, a.p, len(a.own), version, what, i, len(got), len(w), got[max(0, i-20):], w[max(0, i-20):])
							}
						}
					}
				}
			}
		})
	}
}
