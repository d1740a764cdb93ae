package service

// Webhook delivery: numbered events become deliveries (one per matching
// endpoint, once, whatever instance fans out), deliveries are claimed with
// the lease helper, sent signed, and retried with back-off until max_age.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"smmapi/model"
)

// HookSender makes one webhook request and reads (at most 64 KiB of) the
// answer. Err is set when no complete answer came (refused address,
// connection, timeout, a body cut short or too long); Status is 0 when no
// status line came.
type HookSender interface {
	Send(ctx context.Context, url string, header http.Header, body []byte) HookAnswer
}

// HookAnswer is what a receiver answered.
type HookAnswer struct {
	Status int
	Body   []byte
	Err    error
}

// HookRecorder records delivery outcomes (succeeded, failed, dead) and the
// time from an event to its 2xx.
type HookRecorder interface {
	HookAttempt(outcome string)
	HookDelivered(sinceEvent time.Duration)
}

// Deliverer sends webhook deliveries: a round numbers and fans out new
// events, claims what is due within its free slots, and sends each in its
// own goroutine. Slots are bounded overall and per endpoint, so one slow
// endpoint holds at most PerEndpoint of them.
type Deliverer struct {
	store  WebhookStore
	events EventStore
	sealer Sealer
	sender HookSender
	rec    HookRecorder
	cfg    WebhookConfig
	now    Clock
	log    *slog.Logger
	done   chan struct{} // slots were freed: a round may lease more

	mu       sync.Mutex
	inFlight map[uint64]int // per endpoint
	total    int
	wg       sync.WaitGroup
	polled   time.Time   // the last poll started (only Round reads and writes it)
	polling  atomic.Bool // a poll is under way
	waiting  waiting     // fan-out's deliveries not leased yet (only Round touches it)

	// Outcomes wait here to be recorded together: a send that finds a
	// recorder free writes the batch, and the next, until none waits.
	rmu       sync.Mutex
	toRecord  []model.WebhookDelivery
	recording int
}

// NewDeliverer returns a Deliverer.
func NewDeliverer(store WebhookStore, events EventStore, sealer Sealer, sender HookSender, rec HookRecorder, cfg WebhookConfig,
	now Clock, log *slog.Logger) *Deliverer {
	return &Deliverer{store: store, events: events, sealer: sealer, sender: sender, rec: rec, cfg: cfg, now: now, log: log,
		done: make(chan struct{}, 1), inFlight: map[uint64]int{}}
}

// fanOutBatch bounds the events one fan-out transaction reads.
const fanOutBatch = 1000

// HotClaim lets a store call lease, in the same transaction, deliveries it
// makes due, each the oldest open one of its order: at most Room(endpoint)
// of each endpoint (asked once per endpoint per call; the slots are
// reserved already).
type HotClaim struct {
	Token string
	Until time.Time
	Room  func(endpoint uint64) int
}

// lease returns a new claim's token and expiry: the lease covers a send
// bounded by the timeout, with room to record it.
func (d *Deliverer) lease(now time.Time) (string, time.Time) {
	return claimToken(), now.Add(2*d.cfg.Timeout + 30*time.Second)
}

// Round fans out new events and starts the sends now due; it returns how
// many it started. Four paths start sends, fastest first:
//   - fan-out leases the deliveries it creates while their endpoints have
//     free slots (a new event is sent within the round that numbers it);
//   - the rest wait in a queue per endpoint, leased as slots free up,
//     endpoints taking turns;
//   - recording a sent delivery leases the next event of its order;
//   - the poll, at most every pollEvery and in its own goroutine (it is
//     the slow one), finds what the others left: retries, lapsed claims
//     of a stopped instance, what did not fit the queue.
//
// Every path reserves slots before it leases and settles after, so the
// bounds hold whichever paths run at once.
func (d *Deliverer) Round(ctx context.Context) (int, error) {
	if _, err := d.events.SequenceEvents(ctx); err != nil {
		return 0, fmt.Errorf("number events: %w", err)
	}
	// What waits is leased first; a new delivery is leased as it is
	// written only when nothing of its endpoint waits (else it joins the
	// end of its endpoint's queue).
	started, err := d.dispatch(ctx)
	if err != nil {
		return started, fmt.Errorf("lease queued deliveries: %w", err)
	}
	for {
		reserved := map[uint64]int{}
		room := func(ep uint64) int {
			n, ok := reserved[ep]
			if !ok && len(d.waiting.by[ep]) == 0 {
				n = d.reserve(ep, d.cfg.PerEndpoint)
			}
			reserved[ep] = n
			return n
		}
		token, until := d.lease(d.now())
		n, created, err := d.store.FanOutEvents(ctx, d.now(), d.cfg.MaxAge, fanOutBatch, HotClaim{Token: token, Until: until, Room: room})
		var hot []model.WebhookDelivery
		for _, del := range created {
			if del.ClaimToken == token {
				hot = append(hot, del)
			} else {
				d.waiting.add(del.EndpointID, del.ID)
			}
		}
		d.settle(reserved, hot)
		if err != nil {
			return started, fmt.Errorf("fan out events: %w", err)
		}
		d.start(ctx, hot)
		started += len(hot)
		if n < fanOutBatch {
			break
		}
	}
	k, err := d.dispatch(ctx)
	if err != nil {
		return started, fmt.Errorf("lease queued deliveries: %w", err)
	}
	started += k
	if time.Since(d.polled) >= pollEvery && d.polling.CompareAndSwap(false, true) {
		d.polled = time.Now()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer d.polling.Store(false)
			if err := d.poll(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("worker round failed", "worker", "webhooks", "err", fmt.Errorf("poll: %w", err))
			}
		}()
	}
	return started, nil
}

// waiting holds, per endpoint, the deliveries fan-out wrote and could not
// lease at once, oldest first; endpoints take turns in the order they
// started waiting. Only Round touches it.
type waiting struct {
	by   map[uint64][]uint64 // endpoint → delivery IDs
	ring []uint64            // endpoints with waiting deliveries
	next int                 // where the next turn starts in ring
	n    int
}

// Bounds of the queue (8 bytes an entry): a dead endpoint's backlog
// waits in the database, found by the poll, not here.
const (
	maxWaiting            = 200_000
	maxWaitingPerEndpoint = 2_000
)

func (w *waiting) add(ep, id uint64) {
	if w.n >= maxWaiting || len(w.by[ep]) >= maxWaitingPerEndpoint {
		return
	}
	if w.by == nil {
		w.by = map[uint64][]uint64{}
	}
	if len(w.by[ep]) == 0 {
		w.ring = append(w.ring, ep)
	}
	w.by[ep] = append(w.by[ep], id)
	w.n++
}

// dispatch leases waiting deliveries within the free slots, endpoints
// taking turns, each up to its bound: a new delivery waits only behind its
// own endpoint's older ones, never for a poll to pick its endpoint. One
// that cannot be leased (its order's older event is still open, or
// another instance took it) leaves the queue: the sending of its order's
// older event leases it, or the poll finds it.
func (d *Deliverer) dispatch(ctx context.Context) (int, error) {
	w := &d.waiting
	free, _ := d.slots()
	if free <= 0 || w.n == 0 {
		return 0, nil
	}
	reserved := map[uint64]int{}
	var ids []uint64
	for turns := len(w.ring); turns > 0 && len(ids) < free; turns-- {
		w.next %= len(w.ring)
		ep := w.ring[w.next]
		q := w.by[ep]
		k := d.reserve(ep, min(len(q), free-len(ids)))
		if k > 0 {
			reserved[ep] = k
			ids = append(ids, q[:k]...)
			w.by[ep], w.n = q[k:], w.n-k
		}
		if len(w.by[ep]) == 0 {
			delete(w.by, ep)
			w.ring = slices.Delete(w.ring, w.next, w.next+1)
		} else {
			w.next++
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	now := d.now()
	token, until := d.lease(now)
	leased, err := d.store.LeaseListed(ctx, ids, now, token, until)
	d.settle(reserved, leased)
	if err != nil {
		return 0, err
	}
	d.start(ctx, leased)
	return len(leased), nil
}

// pollEvery spaces the polls: each asks every enabled endpoint whether it
// has due work, which costs more than the sends it usually finds.
const pollEvery = 250 * time.Millisecond

// poll leases due deliveries that no faster path took, within the free
// slots, and starts them.
func (d *Deliverer) poll(ctx context.Context) error {
	free, skip := d.slots()
	if free <= 0 {
		return nil
	}
	now := d.now()
	eps, err := d.store.DueEndpoints(ctx, now, skip)
	if err != nil || len(eps) == 0 {
		return err
	}
	// Endpoints take turns in a random order, each up to its own bound, so
	// one endpoint's backlog never fills the slots of the others; an even
	// share each when many endpoints wait, so more of them move.
	mrand.Shuffle(len(eps), func(i, j int) { eps[i], eps[j] = eps[j], eps[i] })
	share := max(free/len(eps), 1)
	want := map[uint64]int{}
	for _, ep := range eps {
		if n := d.reserve(ep, share); n > 0 {
			want[ep] = n
		} else if free, _ = d.slots(); free <= 0 {
			break
		}
	}
	token, until := d.lease(now)
	keep, err := d.store.ClaimDeliveries(ctx, want, now, token, until)
	d.settle(want, keep)
	if err != nil {
		return err
	}
	d.start(ctx, keep)
	return nil
}

// start reads what leased deliveries need and sends each in its own
// goroutine; their slots are taken already. It returns at once: the
// caller goes on fanning out or recording meanwhile.
func (d *Deliverer) start(ctx context.Context, keep []model.WebhookDelivery) {
	if len(keep) == 0 {
		return
	}
	// A send under way when ctx ends runs to its end (bounded by
	// webhooks.timeout): cut short, it would count as the receiver's failure.
	sctx := context.WithoutCancel(ctx)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		events, endpoints, err := d.store.DeliveryWork(sctx, keep)
		if err != nil {
			d.untake(keep) // the leases lapse: sent later
			d.log.Warn("read webhook work", "deliveries", len(keep), "err", err)
			return
		}
		for _, del := range keep {
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				d.send(sctx, del, events[del.EventRow], endpoints[del.EndpointID])
			}()
		}
	}()
}

// slots returns the free overall slots and the endpoints at their bound.
func (d *Deliverer) slots() (int, []uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var skip []uint64
	for ep, n := range d.inFlight {
		if n >= d.cfg.PerEndpoint {
			skip = append(skip, ep)
		}
	}
	return d.cfg.Concurrency - d.total, skip
}

// reserve takes up to n free slots of endpoint ep, within the bounds per
// endpoint and overall, and returns how many it took.
func (d *Deliverer) reserve(ep uint64, n int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := max(min(n, d.cfg.PerEndpoint-d.inFlight[ep], d.cfg.Concurrency-d.total), 0)
	if k > 0 {
		d.inFlight[ep] += k
		d.total += k
	}
	return k
}

// settle frees the slots of free (per endpoint) and takes one for each of
// leased, at once: a reservation turns into its leases with no moment in
// which another path could take the slots.
func (d *Deliverer) settle(free map[uint64]int, leased []model.WebhookDelivery) {
	d.mu.Lock()
	for ep, n := range free {
		d.inFlight[ep] -= n
		d.total -= n
	}
	for _, del := range leased {
		d.inFlight[del.EndpointID]++
		d.total++
	}
	for ep := range free {
		if d.inFlight[ep] <= 0 {
			delete(d.inFlight, ep)
		}
	}
	freed := d.total < d.cfg.Concurrency
	d.mu.Unlock()
	if freed {
		select {
		case d.done <- struct{}{}:
		default:
		}
	}
}

// untake frees the slots of deliveries that are done.
func (d *Deliverer) untake(ds []model.WebhookDelivery) {
	free := map[uint64]int{}
	for _, del := range ds {
		free[del.EndpointID]++
	}
	d.settle(free, nil)
}

// Done is signalled when slots are freed.
func (d *Deliverer) Done() <-chan struct{} { return d.done }

// Wait waits for the sends (and the poll) under way.
func (d *Deliverer) Wait() { d.wg.Wait() }

// send makes one attempt and records it.
func (d *Deliverer) send(ctx context.Context, del model.WebhookDelivery, ev model.Event, ep model.WebhookEndpoint) {
	now := d.now()
	var ans HookAnswer
	var took time.Duration
	switch {
	case ep.ID == 0: // deleted meanwhile, with its deliveries
		d.untake([]model.WebhookDelivery{del})
		return
	case ev.ID == 0:
		ans.Err = fmt.Errorf("the event is no longer kept")
	default:
		body := webhookBody(ev)
		header, err := d.headers(ev, ep, body, now)
		if err != nil {
			ans.Err = err
			break
		}
		sctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		start := time.Now()
		ans = d.sender.Send(sctx, ep.URL, header, body)
		took = time.Since(start)
		cancel()
	}
	end := d.now()
	del.Attempts++
	del.LatencyMS = took.Milliseconds()
	del.LastStatusCode = ans.Status
	// Stored in a utf8mb4 column: invalid bytes would fail the write.
	del.LastResponse = firstRunes(strings.ToValidUTF8(string(ans.Body), "\uFFFD"), 200)
	if ans.Err == nil && ans.Status >= 200 && ans.Status < 300 {
		del.Status, del.LastError, del.DeliveredAt, del.NextAt = model.DeliverySucceeded, "", &end, nil
		d.rec.HookAttempt(model.DeliverySucceeded)
		d.rec.HookDelivered(end.Sub(ev.CreatedAt))
	} else {
		next := end.Add(d.backoff(del.Attempts))
		del.LastError, del.NextAt, del.Status = hookError(ans), &next, model.DeliveryFailed
		d.rec.HookAttempt(model.DeliveryFailed)
		if ev.ID == 0 || next.After(del.ExpiresAt) {
			del.Status, del.NextAt = model.DeliveryDead, nil
			d.rec.HookAttempt(model.DeliveryDead)
		}
	}
	d.record(ctx, del)
}

// recordBatch bounds the outcomes one transaction records; recorders
// bounds the transactions recording at once (two: one commits while the
// next batch gathers and writes).
const (
	recordBatch = 256
	recorders   = 2
)

// record queues an outcome; a send that finds fewer than recorders
// recording records every queued outcome, batch after batch, so that
// under load one transaction records many (a commit per delivery held
// throughput to a few hundred a second) and, idle, one waits for nothing.
// A delivery's slot is freed once its outcome is recorded.
func (d *Deliverer) record(ctx context.Context, del model.WebhookDelivery) {
	d.rmu.Lock()
	d.toRecord = append(d.toRecord, del)
	if d.recording >= recorders {
		d.rmu.Unlock()
		return
	}
	d.recording++
	for len(d.toRecord) > 0 {
		n := min(len(d.toRecord), recordBatch)
		batch := d.toRecord[:n:n]
		d.toRecord = d.toRecord[n:]
		d.rmu.Unlock()
		d.finish(ctx, batch)
		d.rmu.Lock()
	}
	d.recording--
	d.rmu.Unlock()
}

// finish records a batch of outcomes and frees their slots; each order
// whose delivery was sent (or died) has its next event leased in the same
// transaction, sent at once in the freed slot. A record that fails leaves
// the claims to lapse into second sends: it is tried a few times first.
func (d *Deliverer) finish(ctx context.Context, batch []model.WebhookDelivery) {
	reason := func(last model.WebhookDelivery) string {
		return fmt.Sprintf("%d consecutive failed deliveries (last: %s)", d.cfg.MaxFailures, firstRunes(last.LastError, 200))
	}
	// An order whose delivery was sent (or died) may have its next event
	// sent at once, in the slot this batch frees.
	held := map[uint64]int{}
	for _, del := range batch {
		held[del.EndpointID]++
	}
	token, until := d.lease(d.now())
	next := HotClaim{Token: token, Until: until, Room: func(ep uint64) int { return held[ep] }}
	var disabled []uint64
	var chained []model.WebhookDelivery
	var err error
	for try := range 3 {
		if disabled, chained, err = d.store.FinishDeliveries(ctx, batch, d.cfg.MaxFailures, reason, next); err == nil {
			break
		}
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	if err != nil {
		d.log.Warn("record webhook deliveries", "deliveries", len(batch), "err", err)
	}
	d.settle(held, chained)
	d.start(ctx, chained)
	for _, ep := range disabled {
		for _, del := range slices.Backward(batch) {
			if del.EndpointID == ep && del.Status != model.DeliverySucceeded {
				d.log.Warn("webhook endpoint disabled", "user_id", del.UserID, "reason", reason(del))
				break
			}
		}
	}
}

// hookError is the last_error of a failed attempt.
func hookError(a HookAnswer) string {
	switch {
	case a.Err != nil:
		return firstRunes(strings.ToValidUTF8(a.Err.Error(), "\uFFFD"), 500)
	case a.Status >= 300 && a.Status < 400:
		return fmt.Sprintf("HTTP %d: redirects are not followed", a.Status)
	default:
		return fmt.Sprintf("HTTP %d", a.Status)
	}
}

// backoff is the delay after the attempts-th failure: Backoff doubling up to
// MaxBackoff, drawn between half and all of it so retries spread out.
func (d *Deliverer) backoff(attempts int64) time.Duration {
	delay := d.cfg.Backoff
	for i := int64(1); i < attempts && delay < d.cfg.MaxBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, d.cfg.MaxBackoff)
	half := int64(delay / 2)
	return time.Duration(half + mrand.Int64N(half+1))
}

// webhookBody is the request body: the event as the feed shows it, compact.
func webhookBody(ev model.Event) []byte {
	b, _ := json.Marshal(struct {
		ID        uint64          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt string          `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}{ID: *ev.Seq, Type: ev.Type, CreatedAt: FormatTime(ev.CreatedAt), Data: json.RawMessage(ev.Data)})
	return b
}

// headers builds the request headers, signed by each valid secret.
func (d *Deliverer) headers(ev model.Event, ep model.WebhookEndpoint, body []byte, now time.Time) (http.Header, error) {
	ciphers := [][]byte{ep.SecretCipher}
	if ep.PrevValidUntil != nil && now.Before(*ep.PrevValidUntil) && len(ep.PrevCipher) > 0 {
		ciphers = append(ciphers, ep.PrevCipher)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := "t=" + ts
	for _, c := range ciphers {
		secret, err := d.sealer.Open(c)
		if err != nil {
			return nil, fmt.Errorf("webhook secret cannot be opened with secrets.key")
		}
		sig += ",v1=" + Sign(secret, ts, body)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "smmapi-webhooks/1")
	h.Set("Smmapi-Event-Id", strconv.FormatUint(*ev.Seq, 10))
	h.Set("Smmapi-Signature", sig)
	return h, nil
}

// Sign is the hex HMAC-SHA256 of "<t>.<body>" keyed by the secret string.
func Sign(secret []byte, t string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(t))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// expireBatch bounds one expiry or prune statement series.
const expireBatch = 500

// Housekeep marks deliveries of disabled endpoints past max_age dead, and
// prunes finished deliveries older than retention.
func (d *Deliverer) Housekeep(ctx context.Context, retention time.Duration) error {
	for {
		n, err := d.store.ExpireDeliveries(ctx, d.now(), expireBatch)
		if err != nil {
			return err
		}
		for range n {
			d.rec.HookAttempt(model.DeliveryDead)
		}
		if n < expireBatch {
			break
		}
	}
	for {
		n, err := d.store.PruneDeliveries(ctx, d.now().Add(-retention), expireBatch)
		if err != nil || n < expireBatch {
			return err
		}
	}
}
