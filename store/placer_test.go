package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"smmapi/model"
	"smmapi/service"
)

// placement is one order of a differential run: who, which link, what it
// costs.
type placement struct {
	user   int // index into the run's accounts
	link   int
	charge model.Money
}

// testOrder is an order as add builds it, with the duplicate-link guard on.
func testOrder(user uint64, p placement) *model.Order {
	link := fmt.Sprintf("https://instagram.com/p/%d", p.link)
	sum := sha256.Sum256([]byte(link))
	h := hex.EncodeToString(sum[:])
	return &model.Order{UserID: user, SiteID: MainSiteID, ServiceID: 1, Link: link, LinkHash: h, LiveLink: &h,
		Quantity: 1000, Remains: 1000, Charge: p.charge, Status: model.StatusPending, Type: model.OrderDefault}
}

func testIDs() func() (string, error) {
	return func() (string, error) { return service.NewOrderIDIn("alnum") }
}

func testEvent(o *model.Order) model.Event {
	return model.Event{Type: model.EventOrderCreated, UserID: o.UserID, Order: o.PublicID, Data: "{}", CreatedAt: o.CreatedAt}
}

// code is an outcome as the API tells it apart.
func code(err error) string {
	if err == nil {
		return "ok"
	}
	if c := service.ErrorCode(err); c != "" {
		return string(c)
	}
	return err.Error()
}

// A batch decides every order exactly as placing them one after another in
// arrival order does: random runs of several accounts with small balances,
// mixed charges (a big order refused, a later small one accepted), links
// repeated within the batch and live from before, are placed once as one
// batch and once order by order on twin accounts; the answers, balances,
// ledgers and orders must be the same.
func TestPlaceBatchMatchesSequential(t *testing.T) {
	ctx := context.Background()
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(25) {
				r := rand.New(rand.NewPCG(seed, 7))
				accounts := 1 + r.IntN(4)
				twin := func() []uint64 {
					ids := make([]uint64, accounts)
					for i := range ids {
						u := model.User{Username: fmt.Sprintf("s%d-%d-%s", seed, i, randHexT(t))}
						if err := db.CreateUser(ctx, &u); err != nil {
							t.Fatal(err)
						}
						ids[i] = u.ID
					}
					return ids
				}
				batchIDs, seqIDs := twin(), twin()
				for i := range accounts {
					amount := model.Money(r.IntN(40) * 10000)
					for _, u := range []uint64{batchIDs[i], seqIDs[i]} {
						if amount > 0 {
							if err := db.AdjustBalance(ctx, &model.LedgerEntry{UserID: u, Amount: amount, Kind: model.LedgerAdjustment}); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				// Live orders from before, on both twins.
				for range r.IntN(3) {
					p := placement{user: r.IntN(accounts), link: r.IntN(6), charge: 0}
					for _, ids := range [][]uint64{batchIDs, seqIDs} {
						if err := db.placeOne(ctx, testOrder(ids[p.user], p), testIDs(), testEvent); code(err) != "ok" && code(err) != string(service.ErrConflict) {
							t.Fatal(err)
						}
					}
				}
				var run []placement
				for range 2 + r.IntN(60) {
					run = append(run, placement{user: r.IntN(accounts), link: r.IntN(12),
						charge: model.Money([]int{0, 1, 3, 7, 20}[r.IntN(5)] * 10000)})
				}

				reqs := make([]*placeReq, len(run))
				for i, p := range run {
					o := testOrder(batchIDs[p.user], p)
					o.PublicID, _ = service.NewOrderIDIn("alnum")
					reqs[i] = &placeReq{ctx: ctx, o: o, newID: testIDs(), event: testEvent}
				}
				outcomes, err := db.placeBatch(ctx, reqs)
				if err != nil {
					t.Fatalf("seed %d: batch: %v", seed, err)
				}
				for i, p := range run {
					serr := db.placeOne(ctx, testOrder(seqIDs[p.user], p), testIDs(), testEvent)
					if code(outcomes[i]) != code(serr) {
						t.Errorf("seed %d: order %d (%+v): batch %q, one by one %q", seed, i, p, code(outcomes[i]), code(serr))
					}
				}
				for i := range accounts {
					bb, sb := mustLedgerExact(t, db, batchIDs[i]), mustLedgerExact(t, db, seqIDs[i])
					if bb != sb {
						t.Errorf("seed %d: account %d: balance %d after the batch, %d one by one", seed, i, bb, sb)
					}
					if nb, ns := countRows(t, db, "orders", batchIDs[i]), countRows(t, db, "orders", seqIDs[i]); nb != ns {
						t.Errorf("seed %d: account %d: %d orders after the batch, %d one by one", seed, i, nb, ns)
					}
					if bo, so := storedOrders(t, db, batchIDs[i]), storedOrders(t, db, seqIDs[i]); bo != so {
						t.Errorf("seed %d: account %d: orders stored by the batch\n%s\none by one\n%s", seed, i, bo, so)
					}
					if nb, ne := countRows(t, db, "orders", batchIDs[i]), countRows(t, db, "events", batchIDs[i]); nb != ne {
						t.Errorf("seed %d: account %d: %d orders, %d events", seed, i, nb, ne)
					}
					if bs, ss := mustSalesExact(t, db, batchIDs[i]), mustSalesExact(t, db, seqIDs[i]); bs != ss {
						t.Errorf("seed %d: account %d: sales %+v after the batch, %+v one by one", seed, i, bs, ss)
					}
				}
			}
		})
	}
}

// mustLedgerExact checks balance = Σ ledger and that every ledger row's
// balance_after is the running sum, and returns the balance.
func mustLedgerExact(t *testing.T, db *DB, user uint64) model.Money {
	t.Helper()
	bal, err := db.Balance(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	var rows []model.LedgerEntry
	if err := db.g.WithContext(context.Background()).Where("user_id = ?", user).Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var sum model.Money
	for _, e := range rows {
		sum += e.Amount
		if e.BalanceAfter != sum {
			t.Errorf("user %d: ledger row %d balance_after %d, running sum %d", user, e.ID, e.BalanceAfter, sum)
		}
	}
	if sum != bal {
		t.Errorf("user %d: balance %d, ledger sum %d", user, bal, sum)
	}
	return bal
}

// salesTotals is an account's sums, as both queries name them.
type salesTotals struct {
	Orders, Quantity, Revenue, Refunds, Cost, CostUnknown int64
}

func (s *salesTotals) fields() []any {
	return []any{&s.Orders, &s.Quantity, &s.Revenue, &s.Refunds, &s.Cost, &s.CostUnknown}
}

// mustSalesExact checks an account's sales aggregates (summed over days
// and slots) against its orders, and returns them.
func mustSalesExact(t *testing.T, db *DB, user uint64) salesTotals {
	t.Helper()
	var agg, direct salesTotals
	if err := db.g.WithContext(context.Background()).Raw(`SELECT COALESCE(SUM(orders), 0) AS orders, COALESCE(SUM(quantity), 0) AS quantity, COALESCE(SUM(revenue), 0) AS revenue,
		COALESCE(SUM(refunds), 0) AS refunds, COALESCE(SUM(cost), 0) AS cost, COALESCE(SUM(cost_unknown), 0) AS cost_unknown
		FROM sales_days WHERE dim = ? AND key_id = ?`, model.SalesUser, user).Row().Scan(agg.fields()...); err != nil {
		t.Fatal(err)
	}
	if err := db.g.WithContext(context.Background()).Raw(`SELECT COUNT(*) AS orders, COALESCE(SUM(quantity), 0) AS quantity, COALESCE(SUM(charge), 0) AS revenue,
		COALESCE(SUM(refunded), 0) AS refunds, COALESCE(SUM(cost), 0) AS cost, COALESCE(SUM(CASE WHEN cost IS NULL THEN 1 ELSE 0 END), 0) AS cost_unknown
		FROM orders WHERE user_id = ?`, user).Row().Scan(direct.fields()...); err != nil {
		t.Fatal(err)
	}
	if agg != direct {
		t.Errorf("user %d: sales aggregates %+v, orders %+v", user, agg, direct)
	}
	return agg
}

// storedOrders prints an account's orders as stored, but for what differs
// by nature between twins (IDs, owner, times).
func storedOrders(t *testing.T, db *DB, user uint64) string {
	t.Helper()
	var os []model.Order
	if err := db.g.WithContext(context.Background()).Where("user_id = ?", user).Order("link, charge").Find(&os).Error; err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, o := range os {
		if o.CreatedAt.IsZero() || o.UpdatedAt.IsZero() || len(o.PublicID) != 10 {
			t.Errorf("order %+v: times or public ID not written", o)
		}
		o.ID, o.PublicID, o.UserID, o.CreatedAt, o.UpdatedAt = 0, "", 0, time.Time{}, time.Time{}
		live := "<nil>"
		if o.LiveLink != nil {
			live = *o.LiveLink
		}
		o.LiveLink = nil
		fmt.Fprintf(&sb, "%+v live=%s\n", o, live)
	}
	return sb.String()
}

func countRows(t *testing.T, db *DB, table string, user uint64) int64 {
	t.Helper()
	var n int64
	if err := db.g.WithContext(context.Background()).Table(table).Where("user_id = ?", user).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func randHexT(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("%08x", rand.Uint32())
}

// Requests queued concurrently through the placer: one account funded for
// exactly half of them gets exactly that half, in batches, with an exact
// ledger; an account's orders never wait on another shard.
func TestPlacerConcurrent(t *testing.T) {
	ctx := context.Background()
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var batches, largest int
			p := newPlacer(db, 2, 64, func(n int) {
				mu.Lock()
				batches, largest = batches+1, max(largest, n)
				mu.Unlock()
			})
			defer p.stop()
			u := model.User{Username: "hot-" + randHexT(t)}
			if err := db.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			if err := db.AdjustBalance(ctx, &model.LedgerEntry{UserID: u.ID, Amount: 100 * 10000, Kind: model.LedgerAdjustment}); err != nil {
				t.Fatal(err)
			}
			const n = 200
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = p.place(ctx, testOrder(u.ID, placement{link: i, charge: 10000}), testIDs(), testEvent)
				}()
			}
			wg.Wait()
			got := map[string]int{}
			for _, err := range errs {
				got[code(err)]++
			}
			if got["ok"] != 100 || got[string(service.ErrInsufficientFunds)] != 100 {
				t.Errorf("outcomes %v, want 100 ok and 100 insufficient funds", got)
			}
			if bal := mustLedgerExact(t, db, u.ID); bal != 0 {
				t.Errorf("balance %d, want 0", bal)
			}
			t.Logf("%d batches, largest %d", batches, largest)
			if batches >= n || largest < 2 {
				t.Errorf("%d batches for %d orders (largest %d): nothing was gathered", batches, n, largest)
			}
		})
	}
}
