package service

// Subscriptions: add's parameters for the Subscriptions type (username,
// min, max, posts, old_posts, delay, expiry), prepaid or pay-as-you-go
// charging, and the public status object of a subscription:
// {"charge","status","expiry","posts","orders","currency"}.

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"smmapi/model"
)

// typeSubscriptions is the service type whose orders are subscriptions.
const typeSubscriptions = "Subscriptions"

// Bounds of a subscription's counts: beyond them the charge means nothing.
const maxSubPosts = 100000

// subDelays are the delays (minutes) the standard API knows.
var subDelays = []int64{0, 5, 10, 15, 20, 30, 40, 50, 60, 90, 120, 150, 180, 210, 240, 270, 300, 360, 420, 480,
	540, 600}

// expiryLayout is d/m/Y: days and months of one or two digits are read,
// and shown zero-padded.
const (
	expiryLayout = "2/1/2006"
	expiryShow   = "02/01/2006"
)

// buildSubscription validates a Subscriptions add: link and quantity are
// ignored; the order's Quantity is max (the most a post gets, what a
// prepaid post costs), its Posts the prepaid posts (0: unlimited). Errors
// use the spec's texts; nothing is written for any of them.
func buildSubscription(svc model.Service, in AddInput, now time.Time) (model.Order, error) {
	o := model.Order{ServiceID: svc.ID, Status: orderStart[model.OrderSubscription], Type: model.OrderSubscription,
		Rate: svc.Rate}
	user := strings.TrimSpace(in.Username)
	if user == "" || len(user) > maxParamText || !utf8.ValidString(user) || !utf8.ValidString(in.Comments) {
		return o, errIncorrectRequest
	}
	o.Username = user
	if runs, _, err := dripFeed(in.Runs, in.Interval); err != nil || runs > 0 {
		return o, errIncorrectRequest
	}
	p := map[string]string{}
	for k, v := range in.Extra {
		v = strings.TrimSpace(v)
		if len(v) > maxParamText || !utf8.ValidString(v) {
			return o, errIncorrectRequest
		}
		if v != "" {
			p[k] = v
		}
	}
	num := func(name string, lo, hi int64, def int64) (int64, bool) {
		s, ok := p[name]
		if !ok {
			return def, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < lo || n > hi {
			return 0, false
		}
		p[name] = strconv.FormatInt(n, 10)
		return n, true
	}
	if p["min"] == "" || p["max"] == "" {
		return o, errIncorrectRequest
	}
	lo, ok1 := num("min", -1<<62, 1<<62, 0)
	hi, ok2 := num("max", -1<<62, 1<<62, 0)
	if !ok1 || !ok2 || lo > hi {
		return o, errIncorrectRequest
	}
	if lo < svc.Min {
		return o, Errorf(ErrInvalid, "Quantity less than minimal %d", svc.Min)
	}
	if hi > svc.Max {
		return o, Errorf(ErrInvalid, "Quantity more than maximum %d", svc.Max)
	}
	posts, ok1 := num("posts", 1, maxSubPosts, 0)
	old, ok2 := num("old_posts", 0, maxSubPosts, 0)
	delay, ok3 := num("delay", 0, 600, 0)
	if !ok1 || !ok2 || !ok3 || !slices.Contains(subDelays, delay) {
		return o, errIncorrectRequest
	}
	if s, ok := p["expiry"]; ok {
		d, err := time.Parse(expiryLayout, s)
		today := now.UTC().Truncate(24 * time.Hour)
		if err != nil || !d.After(today) {
			return o, errIncorrectRequest
		}
		end := d.Add(24 * time.Hour) // it runs through the date sent
		o.ExpiresAt = &end
		p["expiry"] = d.Format(expiryShow)
	}
	o.Quantity = hi
	if posts > 0 {
		o.Posts = posts + old
		var ok bool
		if o.Charge, ok = Charge(svc.Rate, hi*o.Posts); !ok {
			return o, Errorf(ErrInsufficientFunds, MsgNotEnoughFunds)
		}
	}
	b, _ := json.Marshal(p) // keys sorted: stored parameters are deterministic
	o.Params = string(b)
	return o, nil
}

// subParams are a subscription's stored parameters, read back.
type subParams struct {
	Min, Max, Posts, OldPosts, Delay int64
	HasPosts                         bool
	Expiry                           *string
}

// readSubParams reads what buildSubscription stored (canonical integers).
func readSubParams(o model.Order) subParams {
	var p map[string]string
	_ = json.Unmarshal([]byte(o.Params), &p) // written by buildSubscription
	n := func(k string) int64 { v, _ := strconv.ParseInt(p[k], 10, 64); return v }
	sp := subParams{Min: n("min"), Max: n("max"), Posts: n("posts"), OldPosts: n("old_posts"), Delay: n("delay")}
	_, sp.HasPosts = p["posts"]
	if e, ok := p["expiry"]; ok {
		sp.Expiry = &e
	}
	return sp
}

// expiryText is the expiry as the status shows it (d/m/Y), "" for none.
func expiryText(at *time.Time) string {
	if at == nil {
		return ""
	}
	return at.Add(-24 * time.Hour).UTC().Format(expiryShow)
}

// childIDs splits a subscription's comma list of children.
func childIDs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
