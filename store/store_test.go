package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

// mustDBs opens a fresh store per backend: SQLite always, MySQL when
// SMMAPI_TEST_MYSQL_DSN is set (a failure under CI=true, else a skip).
func mustDBs(t testing.TB) map[string]*DB {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out := map[string]*DB{}
	db, err := Open(ctx, SQLite, filepath.Join(t.TempDir(), "t.db"), Options{Now: time.Now}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	out[SQLite] = db

	root := os.Getenv("SMMAPI_TEST_MYSQL_DSN")
	if root == "" {
		t.Log("SMMAPI_TEST_MYSQL_DSN not set: MySQL variant skipped")
		return out
	}
	admin, err := sql.Open("mysql", root)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MySQL configured but unreachable: %v", err)
		}
		t.Logf("MySQL unreachable, skipped: %v", err)
		return out
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "smmapi_s_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP DATABASE " + name); admin.Close() })
	cfg, _ := mysqldrv.ParseDSN(root)
	cfg.DBName = name
	mdb, err := Open(ctx, MySQL, cfg.FormatDSN(), Options{MaxOpenConns: 8, MaxIdleConns: 8, Now: time.Now}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	out[MySQL] = mdb
	return out
}

// 0.0001 survives a round trip and arithmetic exactly on both backends,
// including amounts where float64 would be off by one unit.
func TestMoneyPrecision(t *testing.T) {
	ctx := context.Background()
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			u := model.User{Username: "m"}
			if err := db.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			steps := []struct{ amount, want string }{
				{"0.0001", "0.0001"},
				{"0.0002", "0.0003"},
				{"9007199254.7409", "9007199254.7412"}, // 2^53 + 3 units: no longer exact as float64
				{"-9007199254.7411", "0.0001"},
				{"0.1", "0.1001"},
				{"0.2", "0.3001"}, // 0.1 + 0.2 is not 0.3 in float64
				{"-0.3001", "0.0000"},
			}
			for _, s := range steps {
				amount, err := model.ParseMoney(s.amount)
				if err != nil {
					t.Fatal(err)
				}
				e := model.LedgerEntry{UserID: u.ID, Amount: amount, Kind: model.LedgerAdjustment}
				if err := db.AdjustBalance(ctx, &e); err != nil {
					t.Fatalf("adjust %s: %v", s.amount, err)
				}
				got, err := db.User(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Balance.String() != s.want || e.BalanceAfter.String() != s.want {
					t.Fatalf("after %s: balance %s, ledger balance_after %s; want %s", s.amount, got.Balance, e.BalanceAfter, s.want)
				}
			}
			// The balance never goes below zero; nothing is written when refused.
			e := model.LedgerEntry{UserID: u.ID, Amount: -1, Kind: model.LedgerAdjustment}
			if err := db.AdjustBalance(ctx, &e); service.ErrorCode(err) != service.ErrConflict {
				t.Fatalf("overdraw: err %v, want conflict", err)
			}
			rows, err := db.Ledger(ctx, u.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var sum model.Money
			for _, r := range rows {
				sum += r.Amount
			}
			if len(rows) != len(steps) || sum != 0 {
				t.Fatalf("ledger: %d rows summing to %s; want %d rows summing to 0.0000", len(rows), sum, len(steps))
			}
		})
	}
}

// Order IDs that collide are retried with a fresh one, inside PlaceOrder.
func TestPlaceOrderRetriesIDCollision(t *testing.T) {
	ctx := context.Background()
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			u := model.User{Username: "c"}
			if err := db.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			if err := db.AdjustBalance(ctx, &model.LedgerEntry{UserID: u.ID, Amount: 100000, Kind: model.LedgerAdjustment}); err != nil {
				t.Fatal(err)
			}
			ids := []string{"AAAAAAAAAA", "AAAAAAAAAA", "AAAAAAAAAA", "BBBBBBBBBB"}
			var mu sync.Mutex
			next := func() (string, error) {
				mu.Lock()
				defer mu.Unlock()
				id := ids[0]
				ids = ids[1:]
				return id, nil
			}
			for i, want := range []string{"AAAAAAAAAA", "BBBBBBBBBB"} {
				o := model.Order{UserID: u.ID, SiteID: 1, ServiceID: 1, Link: "l", LinkHash: "h", Quantity: 1, Remains: 1, Charge: 10, Status: model.StatusPending}
				ev := func(o *model.Order) model.Event {
					return model.Event{Type: model.EventOrderCreated, UserID: o.UserID, Order: o.PublicID, Data: `{"order":"` + o.PublicID + `"}`}
				}
				if err := db.PlaceOrder(ctx, &o, next, ev); err != nil {
					t.Fatalf("order %d: %v", i, err)
				}
				if o.PublicID != want {
					t.Fatalf("order %d got ID %s, want %s", i, o.PublicID, want)
				}
			}
			got, _ := db.User(ctx, u.ID)
			if got.Balance != 100000-20 {
				t.Fatalf("balance %s: a failed attempt was charged", got.Balance)
			}
			rows, _ := db.Ledger(ctx, u.ID, 0, 100)
			if len(rows) != 3 {
				t.Fatalf("ledger has %d rows, want 3", len(rows))
			}
		})
	}
}

// On SQLite the hot reads run on their own read-only connections: an open
// write transaction neither blocks them nor shows them its uncommitted
// changes, and a committed write is visible to the next read.
func TestSQLiteReadersBesideWriter(t *testing.T) {
	ctx := context.Background()
	db := mustDBs(t)[SQLite]
	u := model.User{Username: "r"}
	if err := db.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	inTx, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.g.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("UPDATE users SET balance = 70000 WHERE id = ?", u.ID).Error; err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	got, err := db.User(rctx, u.ID)
	cancel()
	if err != nil {
		t.Fatalf("read while a write transaction is open: %v (readers queue behind the writer)", err)
	}
	if got.Balance != 0 {
		t.Fatalf("read saw the uncommitted balance %s", got.Balance)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err = db.User(ctx, u.ID); err != nil || got.Balance != 70000 {
		t.Fatalf("after commit: balance %s, %v; want 7.0000", got.Balance, err)
	}
	if err := db.r.Exec("UPDATE users SET balance = 1 WHERE id = ?", u.ID).Error; err == nil {
		t.Fatal("the read pool accepted a write")
	}
}

// A database made by an earlier version loses the indexes no query uses.
func TestMigrateDropsUnusedOrderIndex(t *testing.T) {
	ctx := context.Background()
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			for _, q := range []string{"CREATE INDEX idx_orders_user_service_link ON orders (user_id, service_id, link_hash)",
				"CREATE INDEX idx_orders_claim_token ON orders (claim_token)"} {
				if err := db.g.Exec(q).Error; err != nil {
					t.Fatal(err)
				}
			}
			if err := db.migrate(ctx); err != nil { // as at the next start
				t.Fatal(err)
			}
			for _, idx := range []string{"idx_orders_user_service_link", "idx_orders_claim_token"} {
				if db.g.Migrator().HasIndex(&model.Order{}, idx) {
					t.Fatalf("the unused index %s survived the migration", idx)
				}
			}
			if !db.g.Migrator().HasIndex(&model.Order{}, "idx_orders_user_id") {
				t.Fatal("idx_orders_user_id is missing")
			}
		})
	}
}

// A database from before nullable ID formats: the NOT NULL order_id_format
// column moves to id_format once ("numeric" kept, the default "alnum" becomes
// NULL = inherit), and a later explicit setting survives the next start.
func TestMigrateUserFormat(t *testing.T) {
	ctx := context.Background()
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			for _, q := range []string{
				"ALTER TABLE users ADD COLUMN order_id_format VARCHAR(16) NOT NULL DEFAULT 'alnum'",
				"INSERT INTO users (username, balance, disabled, order_id_format, created_at, updated_at) VALUES ('old-numeric', 0, false, 'numeric', '2026-01-01', '2026-01-01')",
				"INSERT INTO users (username, balance, disabled, order_id_format, created_at, updated_at) VALUES ('old-alnum', 0, false, 'alnum', '2026-01-01', '2026-01-01')",
			} {
				if err := db.g.WithContext(ctx).Exec(q).Error; err != nil {
					t.Fatal(err)
				}
			}
			formats := func() map[string]*string {
				var rows []model.User
				if err := db.g.WithContext(ctx).Order("id").Find(&rows).Error; err != nil {
					t.Fatal(err)
				}
				out := map[string]*string{}
				for _, u := range rows {
					out[u.Username] = u.OrderIDFormat
				}
				return out
			}
			if err := db.migrate(ctx); err != nil {
				t.Fatal(err)
			}
			got := formats()
			if got["old-numeric"] == nil || *got["old-numeric"] != "numeric" || got["old-alnum"] != nil {
				t.Fatalf("after migration: numeric=%v alnum=%v, want numeric and nil", got["old-numeric"], got["old-alnum"])
			}
			if db.g.Migrator().HasColumn(&model.User{}, "order_id_format") {
				t.Fatal("the old column survived")
			}
			alnum := "alnum"
			if err := db.g.WithContext(ctx).Model(&model.User{}).Where("username = ?", "old-numeric").Update("id_format", nil).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.g.WithContext(ctx).Model(&model.User{}).Where("username = ?", "old-alnum").Update("id_format", alnum).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.migrate(ctx); err != nil { // the next start
				t.Fatal(err)
			}
			got = formats()
			if got["old-numeric"] != nil || got["old-alnum"] == nil || *got["old-alnum"] != "alnum" {
				t.Fatalf("a second start changed settings: numeric=%v alnum=%v", got["old-numeric"], got["old-alnum"])
			}
		})
	}
}

// The embedded mode's file lock holds for as long as the DB is open, across
// garbage collections (an unreferenced lock file was closed by its
// finalizer, and a second process then served the same file), and is
// released by Close.
func TestSQLiteLockSurvivesGC(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(t.TempDir(), "lock.db")
	db, err := Open(ctx, SQLite, path, Options{Now: time.Now}, log)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(20 * time.Millisecond) // finalizers run on their own goroutine
	}
	if second, err := Open(ctx, SQLite, path, Options{Now: time.Now}, log); err == nil {
		second.Close()
		t.Fatal("a second Open on the same file succeeded after a GC: the lock was lost")
	}
	db.Close()
	again, err := Open(ctx, SQLite, path, Options{Now: time.Now}, log)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	again.Close()
}
