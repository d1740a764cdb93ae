// Package store owns persistence: GORM over SQLite (embedded default) or
// MySQL, and Redis or in-process state for cooldowns. It implements the
// interfaces the service package declares; transactions never leave it.
package store

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"smmapi/model"
	"smmapi/service"
)

// Drivers.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
)

// MainSiteID is the ID of the main site, created on first start.
const MainSiteID = 1

// DB is the relational store.
type DB struct {
	g *gorm.DB
	// r serves the hot reads that need no transaction (key, catalog,
	// status, balance): on SQLite a pool of read-only connections, which
	// WAL lets run beside the one writer (the load harness showed every
	// request queueing on the single connection); on MySQL g itself.
	r      *gorm.DB
	driver string
	brk    *Breaker // MySQL only
	probe  *sql.DB  // the breaker's own connection
	now    func() time.Time
	lock   *os.File // SQLite: the lock file, referenced so that it stays locked
	placer *placer  // add's group committer; nil: one transaction per order
	galera bool     // a MariaDB Galera node (wsrep_on)
	bg     *DB      // MySQL: the same store on its own small pool (Background)
}

// Options tunes the connection pool.
type Options struct {
	MaxOpenConns int
	MaxIdleConns int
	// Now is the clock of every time the store writes (required; written
	// in UTC).
	Now func() time.Time
	// PlaceBatch bounds the orders one group commit of add holds
	// (placer.go); 0 or 1 places each order in its own transaction.
	PlaceBatch int
	// PlaceShards is the number of group committers, each owning a share
	// of the accounts; 0: one on SQLite (one writer), four on MySQL.
	PlaceShards int
	// OnBatch, when set, is told the size of every group commit.
	OnBatch func(n int)
	// FallbackDSNs are the database's other addresses (MySQL), tried in
	// order when the one in use does not answer.
	FallbackDSNs []string
	// BackgroundConns sizes the pool of Background (MySQL); 0: workers
	// share the request pool.
	BackgroundConns int
}

// Open connects, migrates the schema (idempotent) and makes sure the main
// site exists.
func Open(ctx context.Context, drv, dsn string, opt Options, log *slog.Logger) (*DB, error) {
	now := opt.Now
	if now == nil {
		return nil, errors.New("store: Options.Now is required (the store takes its clock from the caller)")
	}
	cfg := &gorm.Config{
		PrepareStmtMaxSize: 512, PrepareStmtTTL: time.Hour, // the SQLite read pool prepares
		Logger:                                   logger.Default.LogMode(logger.Silent),
		TranslateError:                           true,
		DisableForeignKeyConstraintWhenMigrating: true,
		NowFunc:                                  func() time.Time { return now().UTC() },
	}
	var dial gorm.Dialector
	var lock *os.File // the SQLite file's lock, held while the DB lives
	var galera bool
	var dsns []string
	var fo *failover // several addresses
	var bgDial gorm.Dialector
	switch drv {
	case SQLite:
		var err error
		if lock, err = lockFile(dsn); err != nil {
			return nil, err
		}
		dial = sqlite.Open(sqliteDSN(dsn))
	case MySQL:
		var err error
		if dsns, galera, err = mysqlDSNs(ctx, append([]string{dsn}, opt.FallbackDSNs...)); err != nil {
			return nil, err
		}
		dial = mysql.Open(dsns[0])
		if len(dsns) > 1 {
			if fo, err = newFailover(dsns, galera, log); err != nil {
				return nil, err
			}
			dial = mysql.New(mysql.Config{DSN: dsns[0], Conn: openFailover(fo)})
		}
		if opt.BackgroundConns > 0 {
			bgDial = mysql.Open(dsns[0])
			if fo != nil {
				bgDial = mysql.New(mysql.Config{DSN: dsns[0], Conn: openFailover(fo)})
			}
		}
	default:
		return nil, fmt.Errorf("unknown database driver %q", drv)
	}
	g, err := gorm.Open(dial, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", drv, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	if drv == SQLite {
		// One connection serialises writers, which SQLite does anyway, and
		// avoids SQLITE_BUSY on read-to-write upgrades.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(max(opt.MaxOpenConns, 1))
		sqlDB.SetMaxIdleConns(max(opt.MaxIdleConns, 1))
		sqlDB.SetConnMaxLifetime(5 * time.Minute)
		g = g.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
	}
	db := &DB{g: g, r: g, driver: drv, now: func() time.Time { return now().UTC() }, lock: lock, galera: galera}
	if drv == MySQL {
		probe := func() (*sql.DB, error) { return sql.Open("mysql", dsns[0]) }
		if fo != nil {
			probe = func() (*sql.DB, error) { return openFailover(fo), nil }
		}
		if db.brk, db.probe, err = newDBBreaker(probe, log); err != nil {
			sqlDB.Close()
			return nil, err
		}
		if err := gate(g, db.brk); err != nil {
			sqlDB.Close()
			return nil, err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect %s: %w", drv, err)
	}
	if err := db.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if drv == SQLite && !sqliteInMemory(dsn) { // a second connection to memory is another database
		if db.r, err = openSQLiteReaders(dsn, cfg); err != nil {
			sqlDB.Close()
			return nil, err
		}
	}
	if opt.PlaceBatch > 1 {
		shards := opt.PlaceShards
		if shards <= 0 {
			shards = 4
			if drv == SQLite {
				shards = 1
			}
		}
		db.placer = newPlacer(db, shards, opt.PlaceBatch, opt.OnBatch)
	}
	if bgDial != nil {
		if db.bg, err = db.background(bgDial, cfg, opt.BackgroundConns); err != nil {
			sqlDB.Close()
			return nil, err
		}
	}
	log.Info("database ready", "driver", drv, "galera", galera)
	return db, nil
}

// background opens the store's second pool: workers whose statements would
// otherwise queue for a connection behind every request of the public API
// (the webhook deliverer's rounds took seconds under a status load, and
// well under a tenth of that alone) get conns of their own, behind the
// same breaker.
func (db *DB) background(dial gorm.Dialector, cfg *gorm.Config, conns int) (*DB, error) {
	g, err := gorm.Open(dial, cfg)
	if err != nil {
		return nil, fmt.Errorf("open background pool: %w", err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(conns)
	sqlDB.SetMaxIdleConns(conns)
	sqlDB.SetConnMaxLifetime(5 * time.Minute)
	if err := gate(g, db.brk); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return &DB{g: g, r: g, driver: db.driver, brk: db.brk, now: db.now, galera: db.galera}, nil
}

// Background is the store for background workers: on MySQL the same
// database through a pool of its own (Options.BackgroundConns), else db.
func (db *DB) Background() *DB {
	if db.bg != nil {
		return db.bg
	}
	return db
}

// openSQLiteReaders opens the read pool: query_only connections, a few per
// core (reads in SQLite are CPU work in this process).
func openSQLiteReaders(dsn string, cfg *gorm.Config) (*gorm.DB, error) {
	rc := *cfg
	// Statements prepared once per connection: the SQL parser was a
	// quarter of a read's CPU (the pure-Go SQLite prepares every query).
	// Not on the one-connection writer: GORM's statement cache locks while
	// it waits for a connection, and a transaction holding the only one
	// then waits for that lock to prepare (a deadlock seen in the suite).
	rc.PrepareStmt = true
	r, err := gorm.Open(sqlite.Open(sqliteDSN(dsn)+"&_pragma=query_only(1)"), &rc)
	if err != nil {
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	rdb, err := r.DB()
	if err != nil {
		return nil, err
	}
	n := max(2, runtime.NumCPU())
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	return r, nil
}

func sqliteInMemory(dsn string) bool {
	return strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory")
}

// sqliteDSN adds the pragmas the embedded mode needs: WAL so readers do not
// block the writer, a busy timeout instead of instant SQLITE_BUSY.
func sqliteDSN(dsn string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
}

// mysqlDSN forces UTC time parsing whatever the operator wrote.
func mysqlDSN(dsn string) (string, error) {
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("database.dsn: %w", err)
	}
	c.ParseTime = true
	c.Loc = time.UTC
	// Conditional UPDATEs are checked by rows affected: count matched rows,
	// as SQLite does, not changed ones (a zero debit changes nothing).
	c.ClientFoundRows = true
	// Arguments interpolated by the driver (safe with utf8mb4; all money is
	// integers): one round trip per statement instead of prepare, execute
	// and close, which dominated the add profile.
	c.InterpolateParams = true
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	// Bounded dials and reads: a database that stops answering must turn
	// into a quick 503, never a hanging request.
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 15 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 15 * time.Second
	}
	return c.FormatDSN(), nil
}

// mysqlDSNs prepares every address of the database and tells whether it
// is a Galera cluster (asked of the first node that answers); on Galera
// every session waits for causality (withSyncWait).
func mysqlDSNs(ctx context.Context, in []string) ([]string, bool, error) {
	var out []string
	for _, d := range in {
		d, err := mysqlDSN(d)
		if err != nil {
			return nil, false, err
		}
		out = append(out, d)
	}
	var galera bool
	var errs []error
	for _, d := range out {
		var err error
		if galera, err = detectGalera(ctx, d); err == nil {
			errs = nil
			break
		}
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, false, fmt.Errorf("connect mysql: %w", errors.Join(errs...))
	}
	for i := range out {
		if galera {
			var err error
			if out[i], err = withSyncWait(out[i]); err != nil {
				return nil, false, err
			}
		}
	}
	return out, galera, nil
}

func (db *DB) migrate(ctx context.Context) error {
	g := db.g.WithContext(ctx)
	run := func(tx *gorm.DB) error {
		if err := tx.AutoMigrate(append(model.All(), &cacheEpoch{})...); err != nil {
			return err
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&cacheEpoch{ID: 1}).Error; err != nil {
			return err
		}
		// Indexes no query uses cost a B-tree write per order: the (user,
		// service, link hash) guard was replaced by the unique live-link
		// index (its user prefix is idx_orders_user_id), and claim tokens
		// are only read with "id IN …", by primary key (yet every claim
		// rewrote that index).
		for _, idx := range []string{"idx_orders_user_service_link", "idx_orders_claim_token"} {
			if tx.Migrator().HasIndex(&model.Order{}, idx) {
				if err := tx.Migrator().DropIndex(&model.Order{}, idx); err != nil {
					return err
				}
			}
		}
		if err := migrateUserFormat(tx); err != nil {
			return err
		}
		if err := ensureEventCursor(tx); err != nil {
			return err
		}
		if err := db.backfillSales(tx); err != nil {
			return err
		}
		main := model.Site{ID: MainSiteID, Name: "Main", IsMain: true}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&main).Error
	}
	if db.driver != MySQL {
		return run(g)
	}
	// Several instances may start at once, on one server or on several
	// nodes of a Galera cluster (where GET_LOCK is local to each node): a
	// lease row serialises their migrations.
	var id [8]byte
	_, _ = crand.Read(id[:])
	l := migrationLock{g: db.g, now: db.now, owner: hex.EncodeToString(id[:])}
	return l.with(ctx, func() error { return run(g) })
}

// migrateUserFormat moves the account's order ID format from the old NOT
// NULL order_id_format column (default "alnum") to the nullable id_format
// (NULL: inherit), once: "numeric" stays numeric; "alnum", which every
// account had by default, becomes NULL, which resolves to alnum until a site
// or the configuration says otherwise. Dropping the old column makes it run
// once, so a later explicit setting is never overwritten.
func migrateUserFormat(tx *gorm.DB) error {
	m := tx.Migrator()
	if !m.HasColumn(&model.User{}, "order_id_format") {
		return nil
	}
	if err := tx.Exec("UPDATE users SET id_format = 'numeric' WHERE order_id_format = 'numeric'").Error; err != nil {
		return err
	}
	// Plain DROP COLUMN on both drivers (SQLite ≥ 3.35): GORM's SQLite
	// DropColumn rebuilds the table.
	return tx.Exec("ALTER TABLE users DROP COLUMN order_id_format").Error
}

// Driver returns the driver name.
func (db *DB) Driver() string { return db.driver }

// Ping checks the database answers; on MySQL through its breaker, which
// it opens or closes, so that /readyz and the requests agree.
func (db *DB) Ping(ctx context.Context) error {
	if db.brk != nil {
		return db.brk.Check(ctx)
	}
	s, err := db.g.DB()
	if err != nil {
		return err
	}
	return s.PingContext(ctx)
}

// Close closes the pool.
func (db *DB) Close() error {
	if db.placer != nil {
		db.placer.stop()
	}
	if db.bg != nil {
		if s, err := db.bg.g.DB(); err == nil {
			s.Close()
		}
	}
	if db.lock != nil {
		defer db.lock.Close()
	}
	if db.probe != nil {
		db.probe.Close()
	}
	if db.r != db.g {
		if r, err := db.r.DB(); err == nil {
			r.Close()
		}
	}
	s, err := db.g.DB()
	if err != nil {
		return err
	}
	return s.Close()
}

// Gorm exposes the handle for tests that check invariants directly.
func (db *DB) Gorm() *gorm.DB { return db.g }

// forUpdate locks the selected rows on MySQL; SQLite has no row locks and
// needs none behind its single connection.
func (db *DB) forUpdate(tx *gorm.DB) *gorm.DB {
	if db.driver == MySQL {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

// dbErr translates storage errors into service errors, for both drivers:
// missing rows, duplicate keys and an unreachable database. what names the
// object for the message ("user").
func dbErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return service.Errorf(service.ErrNotFound, "%s not found", what)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return service.Errorf(service.ErrConflict, "%s already exists", what)
	case isUnavailable(err), retryable(err), nodeLost(err): // 503: retry later
		return fmt.Errorf("%w: %v", &service.Error{Code: service.ErrUnavailable, Message: service.MsgUnavailable}, err)
	}
	return err
}

// isUnavailable tells a database that cannot be reached (refused, reset,
// timed out, gone mid-query) from a query that failed.
func isUnavailable(err error) bool {
	var ne net.Error
	var me *mysqldrv.MySQLError
	// 1040 and 1203: the server refuses new connections (its own or this
	// user's limit), as unreachable for this request as a refused dial.
	if errors.As(err, &me) && (me.Number == 1040 || me.Number == 1203) {
		return true
	}
	return errors.Is(err, ErrDown) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqldrv.ErrInvalidConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) ||
		strings.Contains(err.Error(), "sql: database is closed") ||
		strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "broken pipe")
}

// transact runs fn in a transaction, and again when it lost a conflict
// (retryable: a deadlock victim, a lock wait timeout, a Galera
// certification conflict): the transaction was rolled back whole, so
// running it again is safe. Every transaction of the store goes through
// here. When every attempt lost, the answer is a retryable 503.
func (db *DB) transact(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if db.brk.Open() { // Begin would wait on a silent database; statements are gated
		return fmt.Errorf("database: %w", ErrDown)
	}
	for attempt := 1; ; attempt++ {
		err := db.g.WithContext(ctx).Transaction(fn)
		if !retryable(err) {
			return err
		}
		if attempt >= txAttempts {
			return errConflicts(attempt, err)
		}
		if berr := backoff(ctx, attempt+1); berr != nil {
			return err
		}
	}
}

// Galera reports whether the database is a node of a Galera cluster.
func (db *DB) Galera() bool { return db.galera }
