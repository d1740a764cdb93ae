package service

// Wire contract (action=add): service, link, quantity, optional runs and
// interval (drip-feed), comments, username and the other standard type
// parameters → {"order":"b76VJizQKZ"}. Charge, debit, ledger row and order
// row are one transaction; errors use the spec's exact texts.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"smmapi/model"
)

// AddInput is the add action's parameters as sent.
type AddInput struct {
	Service  string
	Link     string
	Quantity string
	Runs     string
	Interval string
	Comments string
	Username string
	// Extra holds the other standard type parameters (usernames, hashtags,
	// hashtag, media, answer_number, groups, country, device, …).
	Extra map[string]string
}

// ExtraParams are the type parameters add stores for forwarding upstream.
var ExtraParams = []string{"usernames", "hashtags", "hashtag", "media", "answer_number", "groups",
	"min", "max", "posts", "old_posts", "delay", "expiry", "country", "device", "type_of_traffic",
	"google_keyword", "referring_url"}

// ServiceGetter finds one service at an account's rate (Services).
type ServiceGetter interface {
	ServiceFor(ctx context.Context, p Pricing, id uint64) (model.Service, error)
}

// AddResult is the add action's answer: {"order":"b76VJizQKZ"}, or
// {"order":1483920175} for a numeric account.
type AddResult struct {
	Order OrderRef `json:"order"`
}

// Add places orders.
type Add struct {
	catalog ServiceGetter
	orders  OrderStore
	guard   bool
	newID   func(format string) (string, error)
	rec     Recorder
	ev      *EventLog
	now     Clock
	// OnQueued, when set, is called after an order for a supplier is
	// placed, to wake the forwarder.
	OnQueued func()
}

// NewAdd returns an Add. guard turns on the duplicate-link check; newID
// makes order IDs in an account's format (NewOrderIDIn in production).
func NewAdd(catalog ServiceGetter, orders OrderStore, guard bool, newID func(format string) (string, error), rec Recorder, ev *EventLog, now Clock) *Add {
	return &Add{catalog: catalog, orders: orders, guard: guard, newID: newID, rec: rec, ev: ev, now: now}
}

// Limits on stored text, so no input reaches the database unbounded.
const (
	maxLink      = 1024
	maxParamText = 1024
	maxRuns      = 10000
	maxInterval  = 100000
)

// Do validates in against the service's type, charges and stores the order.
func (a *Add) Do(ctx context.Context, acct Account, in AddInput) (AddResult, error) {
	sid, err := strconv.ParseUint(strings.TrimSpace(in.Service), 10, 64)
	if err != nil || sid == 0 {
		return AddResult{}, Errorf(ErrInvalid, MsgIncorrectService)
	}
	svc, err := a.catalog.ServiceFor(ctx, acct.Pricing, sid)
	if ErrorCode(err) == ErrNotFound || err == nil && !svc.Enabled {
		return AddResult{}, Errorf(ErrInvalid, MsgIncorrectService)
	}
	if err != nil {
		return AddResult{}, fmt.Errorf("add: service %d: %w", sid, err)
	}
	var o model.Order
	if svc.Type == typeSubscriptions {
		o, err = buildSubscription(svc, in, a.now())
	} else {
		o, err = buildOrder(svc, in)
	}
	if err != nil {
		return AddResult{}, err
	}
	o.UserID, o.SiteID = acct.UserID, acct.SiteID
	if svc.SupplierID != nil && svc.SupplierService != "" {
		now := a.now()
		o.SupplierID, o.SupplierService = svc.SupplierID, svc.SupplierService
		o.ForwardState, o.NextAt = model.ForwardQueued, &now
	}
	if a.guard && o.Type == model.OrderDefault { // a subscription has no link
		live := o.LinkHash
		o.LiveLink = &live
	}
	newID := func() (string, error) { return a.newID(acct.OrderIDFormat) }
	if err := a.orders.PlaceOrder(ctx, &o, newID, a.ev.created); err != nil {
		return AddResult{}, fmt.Errorf("add: user %d: %w", acct.UserID, err)
	}
	a.rec.OrderPlaced(o.Charge)
	if o.ForwardState != "" && a.OnQueued != nil {
		a.OnQueued()
	}
	return AddResult{Order: refFor(acct, o.PublicID)}, nil
}

// buildOrder applies the type table of the spec: which parameters each type
// needs, how its quantity is counted and what it costs.
func buildOrder(svc model.Service, in AddInput) (model.Order, error) {
	o := model.Order{ServiceID: svc.ID, Status: model.StatusPending, Type: model.OrderDefault}
	t := svc.Type
	if t == typeSubscriptions { // buildSubscription's
		return o, errIncorrectRequest
	}
	link := strings.TrimSpace(in.Link)
	// Text that is not UTF-8 is refused here, before MySQL's utf8mb4
	// columns refuse it with a 500.
	if link == "" || len(link) > maxLink || !utf8.ValidString(link) {
		return o, Errorf(ErrInvalid, MsgBadLink)
	}
	o.Link = link
	sum := sha256.Sum256([]byte(link))
	o.LinkHash = hex.EncodeToString(sum[:])
	if len(in.Username) > maxParamText || !utf8.ValidString(in.Username) || !utf8.ValidString(in.Comments) {
		return o, errIncorrectRequest
	}
	o.Username = strings.TrimSpace(in.Username)
	o.Comments = in.Comments

	extra := map[string]string{}
	for k, v := range in.Extra {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if (len(v) > maxParamText && k != "usernames") || !utf8.ValidString(v) {
			return o, errIncorrectRequest
		}
		extra[k] = v
	}
	need := func(names ...string) error {
		for _, n := range names {
			if n == "username" {
				if o.Username == "" {
					return errIncorrectRequest
				}
				continue
			}
			if extra[n] == "" {
				return errIncorrectRequest
			}
		}
		return nil
	}

	var qty int64
	var err error
	flat := false
	switch t {
	case "Package":
		qty, flat = 1, true
	case "Custom Comments Package":
		if countLines(in.Comments) == 0 {
			return o, errIncorrectRequest
		}
		qty, flat = 1, true
	case "Custom Comments":
		qty = countLines(in.Comments)
	case "Mentions Custom List":
		qty = countLines(extra["usernames"])
	default:
		switch t {
		case "Mentions":
			err = need("usernames")
		case "Mentions with Hashtags":
			err = need("usernames", "hashtags")
		case "Mentions Hashtag":
			err = need("hashtag")
		case "Mentions User Followers", "Comment Likes":
			err = need("username")
		case "Mentions Media Likers":
			err = need("media")
		case "Poll":
			err = need("answer_number")
		case "Invites from Groups":
			err = need("groups")
		case "Web Traffic":
			err = webTraffic(extra)
		}
		if err != nil {
			return o, err
		}
		if qty, err = strconv.ParseInt(strings.TrimSpace(in.Quantity), 10, 64); err != nil {
			return o, errIncorrectRequest
		}
	}
	if (t == "Custom Comments" || t == "Mentions Custom List") && qty == 0 {
		return o, errIncorrectRequest
	}

	runs, interval, err := dripFeed(in.Runs, in.Interval)
	if err != nil {
		return o, err
	}
	if runs > 0 && (!svc.Dripfeed || (t != "Default" && t != "Web Traffic")) {
		return o, errIncorrectRequest
	}
	if !flat {
		if qty < svc.Min {
			return o, Errorf(ErrInvalid, "Quantity less than minimal %d", svc.Min)
		}
		if qty > svc.Max {
			return o, Errorf(ErrInvalid, "Quantity more than maximum %d", svc.Max)
		}
	}
	total := qty
	if runs > 0 {
		total = qty * runs
		o.Runs, o.Interval = runs, interval
	}
	o.Quantity, o.Remains = total, total
	if flat {
		o.Charge = svc.Rate
	} else {
		var ok bool
		if o.Charge, ok = Charge(svc.Rate, total); !ok {
			return o, Errorf(ErrInsufficientFunds, MsgNotEnoughFunds)
		}
	}
	if len(extra) > 0 {
		b, _ := json.Marshal(extra) // keys sorted: stored parameters are deterministic
		o.Params = string(b)
	}
	return o, nil
}

// dripFeed reads runs and interval. Both without a value (some clients
// always send them) means no drip-feed; otherwise runs ≥ 2 and interval ≥ 1
// are required together.
func dripFeed(runsS, intervalS string) (runs, interval int64, err error) {
	runsS, intervalS = strings.TrimSpace(runsS), strings.TrimSpace(intervalS)
	if noValue(runsS) && noValue(intervalS) {
		return 0, 0, nil
	}
	runs, err1 := strconv.ParseInt(runsS, 10, 64)
	interval, err2 := strconv.ParseInt(intervalS, 10, 64)
	if err1 != nil || err2 != nil || runs < 2 || runs > maxRuns || interval < 1 || interval > maxInterval {
		return 0, 0, errIncorrectRequest
	}
	return runs, interval, nil
}

// noValue reports whether a trimmed runs or interval stands for "not sent":
// empty, zero, or what client libraries write for a missing value (a Node
// SDK sends runs=undefined&interval=undefined on every order; Python's str
// of None, JavaScript's null and NaN).
func noValue(s string) bool {
	if n, err := strconv.ParseInt(s, 10, 64); s == "" || err == nil && n == 0 {
		return true
	}
	for _, t := range [...]string{"undefined", "null", "NaN", "None"} {
		if strings.EqualFold(s, t) {
			return true
		}
	}
	return false
}

// webTraffic checks the Web Traffic parameters: country, device 1–5,
// type_of_traffic 1–3, google_keyword for 1 and referring_url for 2.
func webTraffic(p map[string]string) error {
	inRange := func(s string, lo, hi int64) bool {
		n, err := strconv.ParseInt(s, 10, 64)
		return err == nil && n >= lo && n <= hi
	}
	switch {
	case p["country"] == "", !inRange(p["device"], 1, 5), !inRange(p["type_of_traffic"], 1, 3):
		return errIncorrectRequest
	case p["type_of_traffic"] == "1" && p["google_keyword"] == "":
		return errIncorrectRequest
	case p["type_of_traffic"] == "2" && p["referring_url"] == "":
		return errIncorrectRequest
	}
	return nil
}

// countLines counts lines that are not empty or blank, for \n or \r\n.
func countLines(s string) int64 {
	var n int64
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}
