package service

import (
	"testing"
	"unicode/utf8"

	"smmapi/model"
)

// FuzzBuildOrder: any parameters against any service type either build a
// consistent order or fail with one of the spec's errors; never a panic.
func FuzzBuildOrder(f *testing.F) {
	seeds := []struct{ typ, link, qty, runs, interval, comments, usernames string }{
		{"Default", "https://x/a", "100", "", "", "", ""},
		{"Default", "https://x/a", "-5", "", "", "", ""},
		{"Default", "https://x/a", "99999999999999999999", "", "", "", ""},
		{"Default", "https://x/a", "100", "3", "5", "", ""},
		{"Default", "https://x/a", "100", "0", "0", "", ""},
		{"Default", "https://x/a", "100", "1", "", "", ""},
		{"Default", "https://x/a", "1e3", "", "", "", ""},
		{"Default", "", "100", "", "", "", ""},
		{"Default", "   ", "100", "", "", "", ""},
		{"Custom Comments", "https://x/a", "", "", "", "a\r\nb\n\n  \nc", ""},
		{"Custom Comments", "https://x/a", "", "", "", "\n\n", ""},
		{"Custom Comments Package", "https://x/a", "", "", "", "🙂", ""},
		{"Mentions Custom List", "https://x/a", "", "", "", "", "a\nb"},
		{"Package", "https://x/a", "garbage", "", "", "", ""},
		{"Web Traffic", "https://x/a", "100", "", "", "", ""},
		{"Subscriptions", "", "", "", "", "", ""},
		{"Poll", "https://x/a", "100", "", "", "", ""},
		{"Unknown type", "https://x/a", "100", "", "", "", ""},
		// Client habits: "no value" tokens, text that is not UTF-8, what a
		// JSON array or null for a scalar would have been read as.
		{"Default", "https://x/a", "100", "undefined", "undefined", "", ""},
		{"Default", "https://x/a", "100", " NULL ", "nan", "", ""},
		{"Default", "https://x/a", "100", "None", "5", "", ""},
		{"Default", "https://x/a", "100", "3", "null", "", ""},
		{"Default", "https://x/a", "100", "-0", "00", "", ""},
		{"Default", "https://x.test/\xff\xfe", "100", "", "", "", ""},
		{"Default", "https://x/a", "100", "", "", "\xc0\xaf", ""},
		{"Mentions Custom List", "https://x/a", "", "", "", "", "a\n\xffb"},
		{"Custom Comments", "https://x/a", "", "", "", "ok\n\xed\xa0\x80", ""},
		{"Default", "https://x/a", "[5]", "", "", "", ""},
		{"Default", "https://x/a", "5,6", "", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.typ, s.link, s.qty, s.runs, s.interval, s.comments, s.usernames)
	}
	f.Fuzz(func(t *testing.T, typ, link, qty, runs, interval, comments, usernames string) {
		svc := model.Service{ID: 7, Type: typ, Rate: 85000, Min: 10, Max: 10000, Dripfeed: true, Enabled: true}
		in := AddInput{Service: "7", Link: link, Quantity: qty, Runs: runs, Interval: interval, Comments: comments,
			Extra: map[string]string{"usernames": usernames, "country": "US", "device": "1", "type_of_traffic": "3", "answer_number": "1"}}
		o, err := buildOrder(svc, in)
		if err != nil {
			if c := ErrorCode(err); c != ErrInvalid && c != ErrInsufficientFunds {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		if !utf8.ValidString(o.Link) || !utf8.ValidString(o.Comments) || !utf8.ValidString(o.Params) {
			t.Fatalf("text that is not UTF-8 stored: %+v", o)
		}
		if o.Quantity <= 0 || o.Remains != o.Quantity || o.Charge < 0 || o.Status != model.StatusPending {
			t.Fatalf("inconsistent order %+v", o)
		}
		per := o.Quantity
		if o.Runs > 0 {
			if o.Runs < 2 || o.Interval < 1 || o.Quantity%o.Runs != 0 {
				t.Fatalf("bad drip-feed %+v", o)
			}
			per = o.Quantity / o.Runs
		}
		flat := typ == "Package" || typ == "Custom Comments Package"
		if !flat && (per < svc.Min || per > svc.Max) {
			t.Fatalf("quantity %d outside [%d, %d]", per, svc.Min, svc.Max)
		}
		if want, _ := Charge(svc.Rate, o.Quantity); !flat && o.Charge != want {
			t.Fatalf("charge %s, want %s", o.Charge, want)
		}
	})
}
