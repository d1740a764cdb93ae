package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// The database's breaker sits in the data access path, as GORM callbacks
// run before every statement of every kind (and before each transaction
// begins), rather than at the API edge: every caller (public and internal
// API, workers, the epoch poll) then fails fast in the same way, through
// the one error translation (dbErr), with nothing to remember per route.
// Statements already waiting on a silent database when it is detected are
// not cut short: they end at the driver's read timeout (15 s).

// newDBBreaker returns the breaker of a MySQL database: a ping on a
// connection of its own, so that a pool busy with slow queries is not taken
// for a database that is down (and the probe never waits for the pool).
// conn opens the probe's pool.
func newDBBreaker(conn func() (*sql.DB, error), log *slog.Logger) (*Breaker, *sql.DB, error) {
	probe, err := conn()
	if err != nil {
		return nil, nil, err
	}
	probe.SetMaxOpenConns(1)
	probe.SetMaxIdleConns(1)
	return NewBreaker("database", probe.PingContext, log), probe, nil
}

// gate registers the breaker's callbacks on g. While the breaker is open a
// statement gets an already expired context: database/sql then fails at
// once, before taking a connection, with context.DeadlineExceeded, which
// dbErr answers as unavailable. (An error added in a callback instead would
// leave Row() returning a nil *sql.Row, which panics on Scan.)
func gate(g *gorm.DB, brk *Breaker) error {
	refuse := func(tx *gorm.DB) {
		if brk.Open() {
			expired, cancel := context.WithDeadline(tx.Statement.Context, time.Time{})
			cancel() // done already; Err stays DeadlineExceeded
			tx.Statement.Context = gatedContext{Context: expired, orig: tx.Statement.Context}
		}
	}
	suspect := func(tx *gorm.DB) {
		// A type assertion, not InstanceGet: that formats the statement's
		// address into a key on every call (the load harness showed every
		// statement paying for it).
		if g, gated := tx.Statement.Context.(gatedContext); gated {
			// Restore it: a statement can be reused for another call.
			tx.Statement.Context = g.orig
			if tx.Error != nil {
				tx.Error = fmt.Errorf("database: %w", ErrDown)
			}
			return
		}
		if err := tx.Error; err != nil && isUnavailable(err) && !errors.Is(err, context.Canceled) {
			brk.Suspect()
		}
	}
	cb := g.Callback()
	// "*": first of all, before GORM's own transaction begins; and last.
	const gateName, suspectName = "smmapi:breaker_gate", "smmapi:breaker_suspect"
	return errors.Join(
		cb.Create().Before("*").Register(gateName, refuse), cb.Create().After("*").Register(suspectName, suspect),
		cb.Query().Before("*").Register(gateName, refuse), cb.Query().After("*").Register(suspectName, suspect),
		cb.Update().Before("*").Register(gateName, refuse), cb.Update().After("*").Register(suspectName, suspect),
		cb.Delete().Before("*").Register(gateName, refuse), cb.Delete().After("*").Register(suspectName, suspect),
		cb.Row().Before("*").Register(gateName, refuse), cb.Row().After("*").Register(suspectName, suspect),
		cb.Raw().Before("*").Register(gateName, refuse), cb.Raw().After("*").Register(suspectName, suspect),
	)
}

// gatedContext is the expired context a gated statement runs with, and the
// one it had.
type gatedContext struct {
	context.Context
	orig context.Context
}

// Breaker returns the database's breaker (nil on SQLite, which cannot go
// away); main runs it.
func (db *DB) Breaker() *Breaker { return db.brk }
