package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"smmapi/model"
	"smmapi/service"
)

// Group commit for add. Every order debits its account's balance row, so
// one transaction per order makes a hot account's orders queue on that row
// lock, each through its own commit (and fsync). The placer gathers the
// orders that arrive while a placement transaction is in flight and commits
// them together: per account one balance update for the sum the batch
// accepts, the orders, events and ledger rows as multi-row inserts, one
// commit. A request is answered after the commit that holds its order.
//
// Orders are sharded by account, one committer per shard: an account's
// orders are always taken in arrival order by the same committer, and two
// batches of one instance never wait on each other's row lock. Across
// instances the database row lock orders the batches.
type placer struct {
	db     *DB
	queues []chan *placeReq
	max    int
	// mu guards closed: place sends under the read lock, so that once
	// stop holds the write lock no request can slip into a queue its
	// committer no longer reads.
	mu      sync.RWMutex
	closed  bool
	stopped chan struct{}
	wg      sync.WaitGroup
	// onBatch, when set, is told the size of every batch committed.
	onBatch func(n int)
}

// placeReq is one add waiting for its batch.
type placeReq struct {
	ctx   context.Context
	o     *model.Order
	newID func() (string, error)
	event func(*model.Order) model.Event
	done  chan error
}

// batchTimeout bounds one batch transaction. It is not any request's
// context: a client that leaves must not roll back its batch-mates.
const batchTimeout = 30 * time.Second

func newPlacer(db *DB, shards, max int, onBatch func(int)) *placer {
	p := &placer{db: db, max: max, stopped: make(chan struct{}), onBatch: onBatch}
	for range shards {
		q := make(chan *placeReq, 4*max)
		p.queues = append(p.queues, q)
		p.wg.Add(1)
		go p.run(q)
	}
	return p
}

// place queues o and waits for the commit that decides it. Once a batch
// holds the order the answer is awaited whatever the request's context
// does: the order may already be committed, and answering before knowing
// would tell a client "failed" for an order that exists.
func (p *placer) place(ctx context.Context, o *model.Order, newID func() (string, error), event func(*model.Order) model.Event) error {
	r := &placeReq{ctx: ctx, o: o, newID: newID, event: event, done: make(chan error, 1)}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return fmt.Errorf("place order: store closing: %w", ErrDown)
	}
	select {
	case p.queues[o.UserID%uint64(len(p.queues))] <- r:
	case <-ctx.Done():
		p.mu.RUnlock()
		return ctx.Err()
	}
	p.mu.RUnlock()
	return <-r.done
}

// stop lets the committers finish what is queued and waits for them.
func (p *placer) stop() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	close(p.stopped)
	p.wg.Wait()
}

// run is one shard's committer: it blocks for the first request, so an
// idle service commits an order at once, then takes whatever else has
// queued meanwhile, up to max.
func (p *placer) run(q chan *placeReq) {
	defer p.wg.Done()
	batch := make([]*placeReq, 0, p.max)
	for {
		var first *placeReq
		select {
		case first = <-q:
		case <-p.stopped:
			for {
				select {
				case r := <-q:
					p.commit(append(batch[:0], r))
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < p.max {
			select {
			case r := <-q:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		p.commit(batch)
	}
}

// commit places one batch and answers each of its requests.
func (p *placer) commit(batch []*placeReq) {
	live := make([]*placeReq, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil { // its client left before anything was written
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	if p.onBatch != nil {
		p.onBatch(len(live))
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if len(live) == 1 { // nothing to gather: the sequential transaction, as fast
		r := live[0]
		r.done <- p.db.placeOne(ctx, r.o, r.newID, r.event)
		return
	}
	reqs := live[:0]
	for _, r := range live {
		id, err := r.newID()
		if err != nil {
			r.done <- err
			continue
		}
		r.o.PublicID = id
		reqs = append(reqs, r)
	}
	outcomes, err := p.db.placeBatch(ctx, reqs)
	if err != nil && (isUnavailable(err) || nodeLost(err)) {
		var ids []string
		for i, r := range reqs {
			if outcomes[i] == nil {
				ids = append(ids, r.o.PublicID)
			}
		}
		if ok, _ := p.db.committed(ctx, err, ids); ok {
			err = nil
		}
	}
	switch {
	case err == nil:
		for i, r := range reqs {
			r.done <- outcomes[i]
		}
	case errors.Is(err, gorm.ErrDuplicatedKey) || errors.Is(err, errBalanceMoved):
		// An order ID collision or a live link committed by another
		// instance since the batch looked, or a balance that moved under
		// SQLite's snapshot: the batch rolled back whole, and each order
		// is placed alone, where such a failure refuses that order only.
		for _, r := range reqs {
			r.done <- p.db.placeOne(ctx, r.o, r.newID, r.event)
		}
	default:
		err = dbErr(err, "order")
		for _, r := range reqs {
			r.done <- err
		}
	}
}

// errBalanceMoved: an account's balance no longer covered the sum the batch
// accepted when it was debited (the batch rolls back and is placed order by
// order). The batch reads balances with FOR UPDATE on MySQL, so this is a
// safety net, not a path.
var errBalanceMoved = errors.New("balance moved during the batch")

// verifyWait bounds how long committed keeps asking.
const verifyWait = 15 * time.Second

// committed tells whether a placement whose transaction failed because the
// database could not be reached committed after all: the connection can
// break after COMMIT was sent, and then only the database knows. Its orders
// exist exactly when it did (one transaction), so their IDs are asked for,
// on any connection, until the database answers or verifyWait ends (then
// false: the error stands, as for any outage). A transaction refused by the
// breaker (ErrDown, or a statement given an expired context) never reached
// COMMIT and is not asked about: answers stay fast in a known outage.
// Without this a client could be told "failed" for an order it was
// charged for.
func (db *DB) committed(ctx context.Context, cause error, ids []string) (bool, error) {
	if len(ids) == 0 || errors.Is(cause, ErrDown) || errors.Is(cause, context.DeadlineExceeded) {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyWait)
	defer cancel()
	for {
		var n int64
		err := db.g.WithContext(ctx).Model(&model.Order{}).Where("public_id IN ?", ids).Count(&n).Error
		if err == nil {
			return n > 0, nil
		}
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// liveKey is the duplicate-link guard's unique key.
type liveKey struct {
	user, service uint64
	link          string
}

// placeBatch places orders in one transaction, deciding each as sequential
// placement in arrival order would: a live order on the same link refuses
// it, then a balance that no longer covers it. outcomes[i] is reqs[i]'s
// answer; err is a failure of the whole transaction (nothing written).
func (db *DB) placeBatch(ctx context.Context, reqs []*placeReq) (outcomes []error, err error) {
	outcomes = make([]error, len(reqs))
	err = db.transact(ctx, func(tx *gorm.DB) error {
		now := db.now()
		users := make([]uint64, 0, len(reqs))
		// The guard's keys, asked as the whole unique key: live_link alone
		// is its index's last column, and asking by it alone scanned the
		// orders table (the load harness: add at 0.18 of its ceiling).
		var keys strings.Builder
		var keyArgs []any
		for i, r := range reqs {
			outcomes[i] = nil
			r.o.ID = 0
			users = append(users, r.o.UserID)
			if r.o.LiveLink != nil {
				if len(keyArgs) > 0 {
					keys.WriteString(" OR ")
				}
				keys.WriteString("(user_id = ? AND service_id = ? AND live_link = ?)")
				keyArgs = append(keyArgs, r.o.UserID, r.o.ServiceID, *r.o.LiveLink)
			}
		}
		slices.Sort(users)
		users = slices.Compact(users)
		// Locked in ID order, the same in every batch of every instance,
		// so two batches never deadlock on their accounts.
		var accts []struct {
			ID      uint64
			Balance model.Money
		}
		if err := db.forUpdate(tx.Table("users").Select("id, balance").Where("id IN ?", users).Order("id")).
			Scan(&accts).Error; err != nil {
			return err
		}
		bal := make(map[uint64]model.Money, len(accts))
		for _, a := range accts {
			bal[a.ID] = a.Balance
		}
		taken := map[liveKey]bool{}
		if len(keyArgs) > 0 {
			var rows []struct {
				UserID, ServiceID uint64
				LiveLink          string
			}
			if err := tx.Raw("SELECT user_id, service_id, live_link FROM orders WHERE "+keys.String(), keyArgs...).
				Scan(&rows).Error; err != nil {
				return err
			}
			for _, r := range rows {
				taken[liveKey{r.UserID, r.ServiceID, r.LiveLink}] = true
			}
		}

		accepted := make([]*model.Order, 0, len(reqs))
		events := make([]model.Event, 0, len(reqs))
		debit := map[uint64]model.Money{}
		ledger := make([][]any, 0, len(reqs))
		for i, r := range reqs {
			o := r.o
			var k liveKey
			if o.LiveLink != nil {
				if k = (liveKey{o.UserID, o.ServiceID, *o.LiveLink}); taken[k] {
					outcomes[i] = &service.Error{Code: service.ErrConflict, Message: service.MsgActiveOrder}
					continue
				}
			}
			b, ok := bal[o.UserID]
			if !ok || b < o.Charge {
				outcomes[i] = &service.Error{Code: service.ErrInsufficientFunds, Message: service.MsgNotEnoughFunds}
				continue
			}
			if o.LiveLink != nil {
				taken[k] = true
			}
			bal[o.UserID] = b - o.Charge
			debit[o.UserID] += o.Charge
			ledger = append(ledger, []any{o.UserID, -o.Charge, bal[o.UserID], model.LedgerCharge, o.PublicID, "", now})
			accepted = append(accepted, o)
			events = append(events, r.event(o))
		}
		if len(accepted) == 0 {
			return nil
		}
		if err := insertEvents(tx, events...); err != nil {
			return err
		}
		if err := insertOrders(tx, accepted, now); err != nil {
			return err
		}
		// One statement debits every account of the batch, each by its
		// sum and only if its balance still covers it: the lock makes that
		// certain on MySQL; the condition keeps it certain everywhere.
		var sb strings.Builder
		cases := make([]any, 0, 2*len(debit))
		sb.WriteString("CASE id")
		for _, u := range users {
			if d, ok := debit[u]; ok {
				sb.WriteString(" WHEN ? THEN ?")
				cases = append(cases, u, d)
			}
		}
		sb.WriteString(" END")
		ids := make([]uint64, 0, len(debit))
		for u := range debit {
			ids = append(ids, u)
		}
		args := append(append(append([]any{}, cases...), now, ids), cases...)
		res := tx.Exec("UPDATE users SET balance = balance - "+sb.String()+", updated_at = ? WHERE id IN ? AND balance >= "+sb.String(), args...)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != int64(len(debit)) {
			return errBalanceMoved
		}
		if err := insertRows(tx, "INSERT INTO ledger_entries (user_id, amount, balance_after, kind, ref, reason, created_at)", ledger); err != nil {
			return err
		}
		// One upsert per distinct day, site, service, supplier and account
		// of the batch, not one per order.
		return db.writeSales(tx, placedSales(accepted...))
	})
	return outcomes, err
}

// orderColumns are the orders table's columns a new order writes: every
// field of model.Order but its ID, read once from GORM's own schema so that
// a new field is written without touching this file.
var orderColumns = sync.OnceValues(func() ([]*schema.Field, error) {
	sch, err := schema.Parse(&model.Order{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		return nil, err
	}
	var fs []*schema.Field
	for _, f := range sch.Fields {
		if f.DBName != "" && !f.PrimaryKey && f.Creatable {
			fs = append(fs, f)
		}
	}
	return fs, nil
})

// insertOrders writes new orders. GORM's Create did the same with a
// RETURNING of every defaulted column on SQLite, which the profile of a hot
// account's batches showed as a third of their CPU; the row IDs are not
// needed (events and the ledger name orders by public ID).
func insertOrders(tx *gorm.DB, os []*model.Order, now time.Time) error {
	fs, err := orderColumns()
	if err != nil {
		return err
	}
	cols := make([]string, len(fs))
	for i, f := range fs {
		cols[i] = "`" + f.DBName + "`"
	}
	rows := make([][]any, len(os))
	ctx := tx.Statement.Context
	for i, o := range os {
		if o.CreatedAt.IsZero() {
			o.CreatedAt = now
		}
		if o.UpdatedAt.IsZero() {
			o.UpdatedAt = now
		}
		rv := reflect.ValueOf(o).Elem()
		rows[i] = make([]any, len(fs))
		for j, f := range fs {
			rows[i][j], _ = f.ValueOf(ctx, rv)
		}
	}
	return insertRows(tx, "INSERT INTO orders ("+strings.Join(cols, ",")+")", rows)
}

// insertRows inserts rows (all of one length) with head ("INSERT INTO t
// (a, b)") in one multi-row statement: one round trip on MySQL, one parse
// on SQLite. (A prepared one-row statement run per row was no faster on
// SQLite in the load harness: the driver prepares again on every call.)
func insertRows(tx *gorm.DB, head string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", len(rows[0])), ",") + ")"
	var sb strings.Builder
	sb.WriteString(head)
	sb.WriteString(" VALUES ")
	args := make([]any, 0, len(rows)*len(rows[0]))
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(row)
		args = append(args, r...)
	}
	return tx.Exec(sb.String(), args...).Error
}
