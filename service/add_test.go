package service

import (
	"testing"

	"smmapi/model"
)

// runs and interval: "no value" in any client's spelling is absent; once
// either has a value, both must be a valid drip-feed.
func TestDripFeed(t *testing.T) {
	for _, tc := range []struct {
		runs, interval string
		wantRuns       int64
		wantErr        bool
	}{
		{"", "", 0, false},
		{"0", "0", 0, false},
		{"00", "-0", 0, false},
		{"undefined", "undefined", 0, false},
		{" Undefined ", "UNDEFINED", 0, false},
		{"null", "NaN", 0, false},
		{"None", "", 0, false},
		{"nan", "none", 0, false},
		{"3", "5", 3, false},
		{" 10000 ", "100000", 10000, false},
		{"3", "undefined", 0, true},
		{"undefined", "5", 0, true},
		{"1", "5", 0, true},
		{"10001", "5", 0, true},
		{"3", "100001", 0, true},
		{"nil", "", 0, true},
		{"-1", "", 0, true},
		{"1.5", "", 0, true},
		{"0.0", "", 0, true},
	} {
		runs, _, err := dripFeed(tc.runs, tc.interval)
		if (err != nil) != tc.wantErr || runs != tc.wantRuns {
			t.Errorf("runs %q interval %q: runs %d, err %v; want %d, error %v", tc.runs, tc.interval, runs, err, tc.wantRuns, tc.wantErr)
		}
	}
}

// Text that is not UTF-8 is refused before it reaches a utf8mb4 column:
// "Bad link" for the link, "Incorrect request" for anything else stored.
func TestBuildOrderNotUTF8(t *testing.T) {
	ok := AddInput{Link: "https://x/a", Quantity: "100", Extra: map[string]string{}}
	for _, tc := range []struct {
		name, typ string
		edit      func(in *AddInput)
		want      string
	}{
		{"link", "Default", func(in *AddInput) { in.Link = "https://x.test/\xff\xfe" }, MsgBadLink},
		{"link and comments", "Default", func(in *AddInput) { in.Link, in.Comments = "\xff", "\xff" }, MsgBadLink},
		{"comments", "Custom Comments", func(in *AddInput) { in.Comments = "a\n\xc0\xaf" }, MsgIncorrectRequest},
		{"unused comments", "Default", func(in *AddInput) { in.Comments = "\xff" }, MsgIncorrectRequest},
		{"username", "Comment Likes", func(in *AddInput) { in.Username = "u\xff" }, MsgIncorrectRequest},
		{"usernames", "Mentions Custom List", func(in *AddInput) { in.Extra = map[string]string{"usernames": "a\n\xff"} }, MsgIncorrectRequest},
		{"other type parameter", "Default", func(in *AddInput) { in.Extra = map[string]string{"country": "\xed\xa0\x80"} }, MsgIncorrectRequest},
		{"valid", "Default", func(in *AddInput) { in.Comments = "ü 🙂" }, ""},
	} {
		in := ok
		tc.edit(&in)
		svc := model.Service{ID: 7, Type: tc.typ, Rate: 85000, Min: 1, Max: 10000, Enabled: true}
		_, err := buildOrder(svc, in)
		if got := ErrorMessage(err); err != nil && got != tc.want || err == nil && tc.want != "" {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}
