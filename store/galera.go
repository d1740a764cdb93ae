package store

// MariaDB Galera cluster support: conflicts retried, read-your-writes on
// every session, a migration lock that holds across nodes.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"smmapi/service"
)

// galeraSyncWait is the wsrep_sync_wait every session gets on a Galera
// node: 1 makes reads (and BEGIN) wait until the node has applied every
// write the cluster committed before them, so an order added through one
// node is found by a status asked of another at once. An operator's own
// wsrep_sync_wait in the DSN wins (0 turns it off).
const galeraSyncWait = "1"

// detectGalera reports whether dsn's server is a Galera node (wsrep_on is
// ON). A server without the variable (MySQL, MariaDB without wsrep) is not.
func detectGalera(ctx context.Context, dsn string) (bool, error) {
	c, err := sql.Open("mysql", dsn)
	if err != nil {
		return false, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var on string
	err = c.QueryRowContext(ctx, "SELECT @@wsrep_on").Scan(&on)
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) && me.Number == 1193 { // unknown system variable
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return on == "1" || strings.EqualFold(on, "ON"), nil
}

// withSyncWait sets wsrep_sync_wait on every connection of dsn unless the
// DSN sets it already.
func withSyncWait(dsn string) (string, error) {
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	if _, set := c.Params["wsrep_sync_wait"]; !set {
		c.Params["wsrep_sync_wait"] = galeraSyncWait
	}
	return c.FormatDSN(), nil
}

// Retries of a transaction that lost a conflict. On one server a deadlock
// victim is rare; on Galera every transaction that writes a row another
// node wrote meanwhile fails certification (1213 at COMMIT, or at its next
// statement once a replicated write aborted it), so a hot account's adds
// spread over three nodes lose often and must try again, after a jittered
// pause, so that the losers do not meet again at once.
const (
	txAttempts   = 24
	txBackoff    = 2 * time.Millisecond
	txBackoffCap = 64 * time.Millisecond
)

// retryable reports an error after which the whole transaction was rolled
// back and may run again: deadlock or certification conflict (1213), lock
// wait timeout (1205).
func retryable(err error) bool {
	var me *mysqldrv.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// nodeLost reports a Galera node that is not ready for queries (1047:
// joining, desynced, cut off from the primary component) or lost the
// cluster during COMMIT (1180). Not run again: the node cannot replicate
// until it is back, and a COMMIT sent just before the loss may have been
// applied by the other nodes, so a second run could place an order twice.
// The client gets a retryable 503; fallback_dsns move new connections off
// the node.
func nodeLost(err error) bool {
	var me *mysqldrv.MySQLError
	return errors.As(err, &me) && (me.Number == 1047 || me.Number == 1180)
}

// backoff sleeps before attempt (2, 3, …): a random time up to an
// exponential bound ("full jitter"), cut short by ctx.
func backoff(ctx context.Context, attempt int) error {
	bound := min(txBackoff<<min(attempt-2, 16), txBackoffCap)
	wait, cancel := context.WithTimeout(ctx, rand.N(bound)+time.Millisecond)
	defer cancel()
	<-wait.Done()
	return ctx.Err()
}

// errConflicts is the answer once every attempt lost its conflict: a
// retryable 503 for the client, never an internal error.
func errConflicts(n int, err error) error {
	return fmt.Errorf("%w: %d attempts lost a conflict: %w",
		&service.Error{Code: service.ErrUnavailable, Message: service.MsgUnavailable}, n, err)
}

// migrationLock is a lease row that serialises migrations across every
// node of a Galera cluster (GET_LOCK is local to one node there) and on a
// single server alike: taking it is an INSERT of one primary key or a
// conditional UPDATE of an expired lease, which a racing instance on
// another node loses by certification (1213) and one on the same server by
// the duplicate key. The lease is renewed while migrations run, and a
// crashed instance's lease expires.
type migrationLock struct {
	g     *gorm.DB
	now   func() time.Time
	owner string
}

const (
	migrateLease = 30 * time.Second
	migrateWait  = 2 * time.Minute
)

func (l migrationLock) create(ctx context.Context) error {
	// Plain DDL, outside any transaction: CREATE … IF NOT EXISTS on every
	// node at once is harmless (Galera runs DDL in total order).
	return l.g.WithContext(ctx).Exec(`CREATE TABLE IF NOT EXISTS schema_migration_lock (
		id INT PRIMARY KEY, owner VARCHAR(64) NOT NULL, lease_until DATETIME(6) NOT NULL) ENGINE=InnoDB`).Error
}

// acquire waits for the lease (migrateWait at most).
func (l migrationLock) acquire(ctx context.Context) error {
	deadline := l.now().Add(migrateWait)
	for attempt := 2; ; attempt++ {
		ok, err := l.try(ctx)
		if ok || (err != nil && !retryable(err)) {
			return err
		}
		if l.now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for the migration lock (held by another instance)", migrateWait)
		}
		if err := backoff(ctx, min(attempt, 8)+2); err != nil { // 0.1–0.5 s pauses
			return err
		}
	}
}

func (l migrationLock) try(ctx context.Context) (bool, error) {
	g := l.g.WithContext(ctx)
	now := l.now()
	res := g.Exec("INSERT IGNORE INTO schema_migration_lock (id, owner, lease_until) VALUES (1, ?, ?)", l.owner, now.Add(migrateLease))
	if res.Error != nil || res.RowsAffected == 1 {
		return res.Error == nil, res.Error
	}
	res = g.Exec("UPDATE schema_migration_lock SET owner = ?, lease_until = ? WHERE id = 1 AND lease_until < ?", l.owner, now.Add(migrateLease), now)
	return res.Error == nil && res.RowsAffected == 1, res.Error
}

// renew extends the lease every third of it until ctx ends.
func (l migrationLock) renew(ctx context.Context) {
	t := time.NewTicker(migrateLease / 3)
	defer t.Stop()
	for ticked(ctx, t.C) {
		l.g.WithContext(ctx).Exec("UPDATE schema_migration_lock SET lease_until = ? WHERE id = 1 AND owner = ?", l.now().Add(migrateLease), l.owner)
	}
}

func (l migrationLock) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	l.g.WithContext(ctx).Exec("DELETE FROM schema_migration_lock WHERE id = 1 AND owner = ?", l.owner)
}

// with runs fn holding the lock.
func (l migrationLock) with(ctx context.Context, fn func() error) error {
	if err := l.create(ctx); err != nil {
		return err
	}
	if err := l.acquire(ctx); err != nil {
		return err
	}
	rctx, stop := context.WithCancel(ctx)
	go l.renew(rctx)
	defer l.release(ctx)
	defer stop()
	return fn()
}
