package main

// The webhooks scenario: accounts with endpoints on a receiver inside this
// process, order changes made through the admin API while the public API
// is under its status load, and one more account whose endpoint is dead
// with a large backlog. The receiver checks every signature with its own
// HMAC code, the order of events per order and duplicates; latency is from
// the moment the change's request was sent (an upper bound of the commit)
// to the receiver's answer.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// hookRun is one webhooks scenario's receiver and tallies.
type hookRun struct {
	h       *harness
	secrets map[uint64][]byte // by account, before the first delivery

	mu       sync.Mutex
	lastSeq  map[string]uint64    // by order: the newest event received
	seen     map[uint64]bool      // event IDs received
	sentAt   map[string]time.Time // "order/status": when the change was asked for
	answered map[string]time.Time // when the admin API answered it (committed)
	gotAt    map[string]time.Time // when its delivery came
	lat      []time.Duration
	byKind   map[string][]time.Duration // latencies by the status changed to
	bySecond map[int][]time.Duration    // by the second (since the first change) the change was asked for
	start    time.Time
	lastGot  time.Time
	got      int64 // distinct events received
	dups     int64
	disorder int64
	badSig   int64
	dead     atomic.Int64 // requests the dead endpoint would have had (never: it refuses)
}

func (r *hookRun) serve(w http.ResponseWriter, req *http.Request) {
	uid, err := strconv.ParseUint(strings.TrimPrefix(req.URL.Path, "/hook/"), 10, 64)
	body, rerr := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil || rerr != nil {
		http.Error(w, "bad path", http.StatusNotFound)
		return
	}
	now := time.Now()
	ok := verifyHook(r.secrets[uid], req.Header.Get("Smmapi-Signature"), body)
	var ev struct {
		ID   uint64 `json:"id"`
		Type string `json:"type"`
		Data struct {
			Order  json.RawMessage `json:"order"`
			Status struct {
				Status string `json:"status"`
			} `json:"status"`
		} `json:"data"`
	}
	jerr := json.Unmarshal(body, &ev)
	order := strings.Trim(string(ev.Data.Order), `"`)
	r.mu.Lock()
	switch {
	case !ok || jerr != nil || strconv.FormatUint(ev.ID, 10) != req.Header.Get("Smmapi-Event-Id"):
		r.badSig++
	case r.seen[ev.ID]:
		r.dups++
	default:
		r.seen[ev.ID] = true
		r.got++
		r.lastGot = now
		if ev.ID < r.lastSeq[order] {
			r.disorder++
		}
		r.lastSeq[order] = max(r.lastSeq[order], ev.ID)
		r.gotAt[order+"/"+ev.Data.Status.Status] = now
		if t, ok := r.sentAt[order+"/"+ev.Data.Status.Status]; ok {
			r.lat = append(r.lat, now.Sub(t))
			r.byKind[ev.Data.Status.Status] = append(r.byKind[ev.Data.Status.Status], now.Sub(t))
			sec := int(t.Sub(r.start) / time.Second)
			r.bySecond[sec] = append(r.bySecond[sec], now.Sub(t))
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// verifyHook checks a Smmapi-Signature header the way a receiver would:
// HMAC-SHA256 of "<t>.<body>" keyed by the secret string, any v1 matching.
func verifyHook(secret []byte, header string, body []byte) bool {
	var t string
	var sigs []string
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "t":
			t = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if t == "" || len(secret) == 0 {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(t + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	return slices.ContainsFunc(sigs, func(s string) bool { return hmac.Equal([]byte(s), []byte(want)) })
}

// hookOrder is an order the scenario changes.
type hookOrder struct {
	id   string
	user uint64
}

// hookResult is what the scenario reports.
type hookResult struct {
	endpoints, changes, got, dups, disorder, badSig, lost int64
	changeRate, deliveryRate                              float64
	p50, p99, max                                         time.Duration
	backlog                                               int64 // pending deliveries of the dead endpoint at the end
	detail                                                []string
	within2s                                              float64 // smmapi's histogram: share of deliveries within 2 s
	burst                                                 *hookBurst
	drained                                               time.Duration
	alone, without, with                                  row
}

// webhooksScenario measures deliveries and status beside them: status
// alone; status beside order changes of accounts without endpoints (the
// baseline of the target: the same changes, no webhooks); then endpoints
// are registered and status is measured beside the same number of changes
// of other orders, each pushed to the receiver.
func (h *harness) webhooksScenario(ctx context.Context, rep *report) error {
	o := h.o
	n, perAcct := o.hookAccounts, max(o.hookChanges/(2*o.hookAccounts), 1)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	defer client.CloseIdleConnections()

	step("webhooks: provisioning %d accounts with 3 × %d orders each", n, perAcct)
	ids, keys := make([]uint64, n), make([]string, n)
	err := parallel(n, 8, func(i int) error {
		var err error
		ids[i], keys[i], err = h.account(ctx, fmt.Sprintf("hook-%d", i), accountBalance, true)
		return err
	})
	if err != nil {
		return err
	}
	orders := make([]hookOrder, 3*n*perAcct)
	err = parallel(len(orders), 32, func(i int) error {
		acct := i % n
		form := fmt.Sprintf("key=%s&action=add&service=%d&link=https%%3A%%2F%%2Finstagram.com%%2Fp%%2Fhook%d&quantity=%d",
			keys[acct], h.addSvc, i, addQuantity)
		resp, err := client.Post("http://"+h.public+"/api/v2", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct {
			Order json.RawMessage `json:"order"`
		}
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil || len(out.Order) == 0 {
			return fmt.Errorf("add: %.200s", b)
		}
		orders[i] = hookOrder{id: strings.Trim(string(out.Order), `"`), user: ids[acct]}
		return nil
	})
	if err != nil {
		return err
	}
	third := len(orders) / 3
	before, during, burst := orders[:third], orders[third:2*third], orders[2*third:]

	b := &bodies{h: h}
	status := h.statusScenarios(b, "PK select", "/pk", 0.60)[0]
	var res hookResult
	res.endpoints = int64(n)
	// Each status measurement lasts as long as a phase's changes take (a
	// pair is two warm-ups and two halves).
	saved := h.o.duration
	defer func() { h.o.duration = saved }()
	h.o.duration = max(time.Duration(2*len(during))*time.Second/time.Duration(o.hookRate)/2-h.o.warmup, 2*time.Second)
	step("webhooks: status alone")
	if res.alone, err = h.pair(ctx, "status (1 ID), alone", status.smm, status.ceilName, status.ceil, 0.60); err != nil {
		return err
	}
	step("webhooks: %d changes at %d/s of accounts without endpoints, status measured beside them", 2*len(before), o.hookRate)
	g := h.changeOrders(ctx, client, nil, before, o.hookRate)
	if res.without, err = h.pair(ctx, "status (1 ID), changes without webhooks", status.smm, status.ceilName, status.ceil, 0.60); err != nil {
		return err
	}
	if end := <-g; end.err != nil {
		return fmt.Errorf("webhooks: change: %w", end.err)
	}

	r := &hookRun{h: h, secrets: map[uint64][]byte{}, lastSeq: map[string]uint64{}, seen: map[uint64]bool{},
		sentAt: map[string]time.Time{}, answered: map[string]time.Time{}, gotAt: map[string]time.Time{}, byKind: map[string][]time.Duration{}, bySecond: map[int][]time.Duration{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var cur atomic.Pointer[hookRun] // the phase's tallies
	cur.Store(r)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { cur.Load().serve(w, req) }),
		ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/hook/"
	step("webhooks: registering %d endpoints on %s", n, ln.Addr())
	var smu sync.Mutex
	err = parallel(n, 8, func(i int) error {
		var out struct{ Secret string }
		err := h.adminDo(ctx, client, http.MethodPut, fmt.Sprintf("/users/%d/webhook", ids[i]),
			map[string]any{"url": base + strconv.FormatUint(ids[i], 10), "events": []string{"order.updated"}}, &out, http.StatusCreated)
		smu.Lock()
		r.secrets[ids[i]] = []byte(out.Secret)
		smu.Unlock()
		return err
	})
	if err != nil {
		return err
	}
	if o.hookBacklog > 0 {
		if err := h.deadBacklog(ctx, client); err != nil {
			return err
		}
	}

	step("webhooks: %d changes at %d/s pushed to %d endpoints, status measured beside them", 2*len(during), o.hookRate, n)
	var profiled func() (string, error)
	if o.profile != "" {
		profiled = h.startProfile(ctx, "webhooks", max(2*len(during)/o.hookRate, 1))
	}
	histBefore, err := h.hookHistogram(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.start = time.Now()
	r.mu.Unlock()
	g = h.changeOrders(ctx, client, r, during, o.hookRate)
	if res.with, err = h.pair(ctx, "status (1 ID), webhooks flowing", status.smm, status.ceilName, status.ceil, 0.60); err != nil {
		return err
	}
	end := <-g
	if end.err != nil {
		return fmt.Errorf("webhooks: change: %w", end.err)
	}
	if profiled != nil {
		file, err := profiled()
		if err != nil {
			return err
		}
		step("  profiled the changes and their deliveries → %s", file)
	}
	res.changes = end.made
	res.changeRate = float64(end.made) / end.at.Sub(end.first).Seconds()

	// Wait for every delivery, or for 60 s without progress.
	want := res.changes
	last, lastAt := int64(-1), time.Now()
	for {
		r.mu.Lock()
		got := r.got
		r.mu.Unlock()
		if got >= want || time.Since(lastAt) > 60*time.Second || ctx.Err() != nil {
			break
		}
		if got != last {
			last, lastAt = got, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Late duplicates, if any, arrive within a moment.
	time.Sleep(time.Second)
	r.mu.Lock()
	res.got, res.dups, res.disorder, res.badSig = r.got, r.dups, r.disorder, r.badSig
	res.lost = want - r.got
	res.deliveryRate = float64(r.got) / r.lastGot.Sub(end.first).Seconds()
	res.drained = r.lastGot.Sub(end.at)
	slices.Sort(r.lat)
	if k := len(r.lat); k > 0 {
		res.p50, res.p99, res.max = r.lat[k/2], r.lat[min(k*99/100, k-1)], r.lat[k-1]
	}
	pct := func(l []time.Duration) string {
		slices.Sort(l)
		k := len(l)
		if k == 0 {
			return "-"
		}
		return fmt.Sprintf("p50 %s p99 %s (%d)", ms(l[k/2]), ms(l[min(k*99/100, k-1)]), k)
	}
	var lower, patch []time.Duration
	for k, got := range r.gotAt {
		if a, ok := r.answered[k]; ok {
			lower = append(lower, max(got.Sub(a), 0))
			patch = append(patch, a.Sub(r.sentAt[k]))
		}
	}
	res.detail = append(res.detail, "change → receiver's 2xx, from the admin API's answer (a lower bound: the commit is before it): "+pct(lower))
	res.detail = append(res.detail, "the admin API's PATCH itself, asked → answered: "+pct(patch))
	for kind, l := range r.byKind {
		res.detail = append(res.detail, fmt.Sprintf("changes to %s: %s", kind, pct(l)))
	}
	secs := slices.Sorted(maps.Keys(r.bySecond))
	var line strings.Builder
	for _, sec := range secs {
		l := r.bySecond[sec]
		slices.Sort(l)
		fmt.Fprintf(&line, " %ds: %.2f/%.2f s", sec, l[len(l)/2].Seconds(), l[min(len(l)*99/100, len(l)-1)].Seconds())
	}
	res.detail = append(res.detail, "p50/p99 by the second the change was asked for:"+line.String())
	r.mu.Unlock()
	if o.hookBacklog > 0 {
		if err := h.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
			JOIN users u ON u.id = e.user_id WHERE u.username = 'hook-dead' AND d.status IN ('pending', 'failed')`).Scan(&res.backlog); err != nil {
			return err
		}
	}
	histAfter, err := h.hookHistogram(ctx)
	if err != nil {
		return err
	}
	if n := histAfter[-1] - histBefore[-1]; n > 0 {
		res.within2s = float64(histAfter[2]-histBefore[2]) / float64(n)
		res.detail = append(res.detail, fmt.Sprintf("smmapi's own histogram (event written → 2xx), this phase: %d deliveries, %.2f%% within 1 s, %.2f%% within 2 s, %.2f%% within 5 s",
			int64(n), 100*float64(histAfter[1]-histBefore[1])/float64(n), 100*res.within2s, 100*float64(histAfter[5]-histBefore[5])/float64(n)))
	}
	rep.hooks = &res
	if o.hookBurst <= 0 {
		return nil
	}
	// The burst: as many changes as the admin API takes, no status load
	// beside them: what delivery sustains when changes come faster.
	b2 := &hookRun{h: h, secrets: r.secrets, lastSeq: map[string]uint64{}, seen: map[uint64]bool{}, sentAt: map[string]time.Time{},
		answered: map[string]time.Time{}, gotAt: map[string]time.Time{}, byKind: map[string][]time.Duration{}, bySecond: map[int][]time.Duration{}}
	b2.start = time.Now()
	cur.Store(b2)
	step("webhooks: burst of %d changes at up to %d/s, no status load", 2*len(burst), o.hookBurst)
	end = <-h.changeOrders(ctx, client, b2, burst, o.hookBurst)
	if end.err != nil {
		return fmt.Errorf("webhooks: burst change: %w", end.err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b2.mu.Lock()
		got := b2.got
		b2.mu.Unlock()
		if got >= end.made {
			break
		}
	}
	time.Sleep(time.Second)
	b2.mu.Lock()
	defer b2.mu.Unlock()
	res.burst = &hookBurst{changes: end.made, changeRate: float64(end.made) / end.at.Sub(end.first).Seconds(),
		got: b2.got, lost: end.made - b2.got, dups: b2.dups, disorder: b2.disorder, badSig: b2.badSig,
		rate: float64(b2.got) / b2.lastGot.Sub(end.first).Seconds(), drained: b2.lastGot.Sub(end.at)}
	slices.Sort(b2.lat)
	if k := len(b2.lat); k > 0 {
		res.burst.p50, res.burst.p99 = b2.lat[k/2], b2.lat[min(k*99/100, k-1)]
	}
	return nil
}

// hookBurst is the burst phase's figures.
type hookBurst struct {
	changes, got, lost, dups, disorder, badSig int64
	changeRate, rate                           float64
	p50, p99, drained                          time.Duration
}

// hookHistogram reads smmapi's event → 2xx histogram from /metrics: the
// cumulative count at 1, 2 and 5 seconds, and (at -1) the total.
func (h *harness) hookHistogram(ctx context.Context) (map[float64]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.smm.addrs["internal"]+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[float64]float64{1: 0, 2: 0, 5: 0, -1: 0}
	for _, l := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case `smmapi_webhook_delivery_latency_seconds_bucket{le="1"}`:
			out[1] = v
		case `smmapi_webhook_delivery_latency_seconds_bucket{le="2"}`:
			out[2] = v
		case `smmapi_webhook_delivery_latency_seconds_bucket{le="5"}`:
			out[5] = v
		case "smmapi_webhook_delivery_latency_seconds_count":
			out[-1] = v
		}
	}
	return out, nil
}

// changesDone is how a run of changes ended.
type changesDone struct {
	err       error
	made      int64
	first, at time.Time
}

// changeOrders moves each order to In progress, then (after all of them)
// to Completed, through the admin API, paced at -hook-rate over 64
// connections; r, when set, learns when each change was asked for.
func (h *harness) changeOrders(ctx context.Context, client *http.Client, r *hookRun, orders []hookOrder, rate int) <-chan changesDone {
	type change struct {
		ord    hookOrder
		status string
	}
	// An order's two changes go to the same connection, so the second is
	// never asked for before the first is answered.
	const conns = 64
	queues := make([]chan change, conns)
	for i := range queues {
		queues[i] = make(chan change, len(orders))
	}
	out := make(chan changesDone, 1)
	go func() {
		defer func() {
			for _, q := range queues {
				close(q)
			}
		}()
		// Paced by the clock, not by ticks (a late tick is not made up):
		// every millisecond, as many as are due by then.
		all := make([]change, 0, 2*len(orders))
		for step := range 2 {
			for _, ord := range orders {
				all = append(all, change{ord, [2]string{"In progress", "Completed"}[step]})
			}
		}
		start := time.Now()
		for sent := 0; sent < len(all); {
			due := min(int(time.Since(start).Seconds()*float64(rate))+1, len(all))
			for ; sent < due; sent++ {
				queues[sent%len(orders)%conns] <- all[sent]
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	go func() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		var made atomic.Int64
		start := time.Now()
		for _, q := range queues {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range q {
					patch := map[string]any{"status": c.status}
					if c.status == "In progress" {
						patch["start_count"] = "100"
					}
					if r != nil {
						r.mu.Lock()
						r.sentAt[c.ord.id+"/"+c.status] = time.Now()
						r.mu.Unlock()
					}
					if err := h.adminDo(ctx, client, http.MethodPatch, "/orders/"+c.ord.id, patch, nil, http.StatusOK); err != nil {
						mu.Lock()
						first = cmp(first, err)
						mu.Unlock()
						continue
					}
					if r != nil {
						r.mu.Lock()
						r.answered[c.ord.id+"/"+c.status] = time.Now()
						r.mu.Unlock()
					}
					made.Add(1)
				}
			}()
		}
		wg.Wait()
		out <- changesDone{err: first, made: made.Load(), first: start, at: time.Now()}
	}()
	return out
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func (r hookResult) ok() bool {
	b := r.burst
	return r.lost == 0 && r.disorder == 0 && r.badSig == 0 && (b == nil || b.lost == 0 && b.disorder == 0 && b.badSig == 0)
}

// deadBacklog gives one more account an endpoint nobody listens on and
// hookBacklog events for it, inserted directly (unnumbered, as committed
// changes are before the sequencer numbers them): smmapi numbers them,
// fans them out and keeps failing to deliver them while the live
// endpoints are measured.
func (h *harness) deadBacklog(ctx context.Context, client *http.Client) error {
	uid, _, err := h.account(ctx, "hook-dead", accountBalance, false)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close() // connections are refused from now on
	if err := h.adminDo(ctx, client, http.MethodPut, fmt.Sprintf("/users/%d/webhook", uid),
		map[string]any{"url": "http://" + addr + "/dead"}, nil, http.StatusCreated); err != nil {
		return err
	}
	step("webhooks: %d events for a dead endpoint (%s)", h.o.hookBacklog, addr)
	layout := "2006-01-02 15:04:05.000"
	if h.driver == "sqlite" {
		layout = "2006-01-02 15:04:05.999999999-07:00"
	}
	created := "'" + time.Now().UTC().Format(layout) + "'"
	const chunk = 2000
	var sb strings.Builder
	for from := 0; from < h.o.hookBacklog; from += chunk {
		sb.Reset()
		sb.WriteString("INSERT INTO events (type, user_id, order_ref, data, created_at) VALUES ")
		for i := from; i < min(from+chunk, h.o.hookBacklog); i++ {
			if i > from {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `('order.updated',%d,'D%d','{"order":"D%d","previous_status":"Pending","status":{"charge":"0.1235","start_count":"0","status":"In progress","remains":"100","currency":"CNY"}}',%s)`,
				uid, i, i, created)
		}
		if _, err := h.db.ExecContext(ctx, sb.String()); err != nil {
			return fmt.Errorf("dead backlog: %w", err)
		}
	}
	// smmapi numbers and fans them out before the measured phase starts.
	start := time.Now()
	for {
		var k int64
		if err := h.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM webhook_deliveries WHERE user_id = ?", uid).Scan(&k); err != nil {
			return err
		}
		if k >= int64(h.o.hookBacklog) {
			step("webhooks: the dead endpoint's %d deliveries fanned out in %s", k, time.Since(start).Round(time.Millisecond))
			// InnoDB writes back what the backlog dirtied before the
			// measured phase, not during it.
			return h.settle(ctx)
		}
		if time.Since(start) > 5*time.Minute || ctx.Err() != nil {
			return fmt.Errorf("dead backlog: %d of %d deliveries fanned out after %s", k, h.o.hookBacklog, time.Since(start))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// hookLines is the webhooks part of the report.
func (r *hookResult) lines() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### webhooks\n\n")
	t := table{head: []string{"", "figure", "target", "met?"}}
	t.add("endpoints (live)", fmt.Sprint(r.endpoints), "", "")
	t.add("order changes made (admin API)", fmt.Sprintf("%d at %.0f/s", r.changes, r.changeRate), "", "")
	t.add("deliveries received (distinct)", fmt.Sprint(r.got), fmt.Sprint(r.changes), yesNo(r.got == r.changes))
	t.add("deliveries/s (first change → last receipt)", fmt.Sprintf("%.0f", r.deliveryRate), "≥ 1000", yesNo(r.deliveryRate >= 1000))
	t.add("change → receiver's 2xx, from the PATCH asked (upper bound), p50 / p99 / max", fmt.Sprintf("%s / %s / %s", ms(r.p50), ms(r.p99), ms(r.max)), "p99 < 2 s", yesNo(r.p99 < 2*time.Second && r.p99 > 0))
	t.add("event → 2xx within 2 s (smmapi's histogram)", fmt.Sprintf("%.2f%%", 100*r.within2s), "≥ 99 %", yesNo(r.within2s >= 0.99))
	t.add("lost / duplicated / out of order per order / bad signature", fmt.Sprintf("%d / %d / %d / %d", r.lost, r.dups, r.disorder, r.badSig), "0 / – / 0 / 0", yesNo(r.ok()))
	t.add("last receipt after the last change", ms(r.drained), "", "")
	ratio0, ratio1 := r.without.ratio(), r.with.ratio()
	t.add("status (1 ID) ratio alone", fmt.Sprintf("%.2f", r.alone.ratio()), "", "")
	t.add("status (1 ID) ratio beside the changes: without webhooks → with", fmt.Sprintf("%.2f → %.2f (%+.0f%%)", ratio0, ratio1, 100*(ratio1/ratio0-1)),
		"within 10 %", yesNo(ratio1 >= 0.9*ratio0))
	if r.backlog > 0 {
		t.add("dead endpoint's open deliveries at the end", fmt.Sprint(r.backlog), "", "")
	}
	if x := r.burst; x != nil {
		t.add("burst, no status load: changes made", fmt.Sprintf("%d at %.0f/s", x.changes, x.changeRate), "", "")
		t.add("burst: deliveries/s (first change → last receipt)", fmt.Sprintf("%.0f", x.rate), "≥ 1000", yesNo(x.rate >= 1000))
		t.add("burst: change → 2xx (from the PATCH asked), p50 / p99", fmt.Sprintf("%s / %s", ms(x.p50), ms(x.p99)), "p99 < 2 s", yesNo(x.p99 < 2*time.Second && x.p99 > 0))
		t.add("burst: lost / duplicated / out of order / bad signature", fmt.Sprintf("%d / %d / %d / %d", x.lost, x.dups, x.disorder, x.badSig), "0 / – / 0 / 0",
			yesNo(x.lost == 0 && x.disorder == 0 && x.badSig == 0))
	}
	b.WriteString(t.String())
	for _, d := range r.detail {
		fmt.Fprintf(&b, "- %s\n", d)
	}
	return b.String()
}
