package service

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"smmapi/model"
)

// reflective is what encoding/json writes for the same values through
// plain structs: the appenders must match it byte for byte.
type reflectiveStatus struct {
	Charge     string  `json:"charge"`
	StartCount string  `json:"start_count"`
	Status     string  `json:"status"`
	Remains    string  `json:"remains"`
	Currency   string  `json:"currency"`
	Runs       *string `json:"runs,omitempty"`
}

func reflectiveList(t *testing.T, l StatusList) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(k)
		b.WriteByte(':')
		var v any = ItemError{Error: e.Error}
		if o := e.Order; o != nil {
			r := reflectiveStatus{o.Charge.String(), strconv.FormatInt(o.StartCount, 10), string(o.Status),
				strconv.FormatInt(o.Remains, 10), o.Currency, nil}
			if o.HasRuns {
				runs := strconv.FormatInt(o.Runs, 10)
				r.Runs = &runs
			}
			v = r
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func TestStatusAppendJSONMatchesEncodingJSON(t *testing.T) {
	odd := []string{"", "12", "<", ">", "&", "\"", "\\", "\x7f", "\x01", "\u00e9", "abc", `a"b`, `a\b`, "<script>&", "tab\tnew\nline\r", "\x00\x1f\x7f",
		"é中文", "\u2028\u2029", "\xff\xfe bad utf8", "emoji 😀", strings1000()}
	for _, s := range odd {
		for i, m := range []model.Money{0, 1, -1, 85000, 12345678901234} {
			n := []int64{0, 1, -1, 1000000, 9223372036854775807}[i]
			o := &OrderStatus{Charge: m, StartCount: n, Status: "In progress", Remains: -n, Currency: s}
			l := StatusList{{ID: s, Order: o}, {ID: s + "x", Error: s},
				{ID: "9", Order: &OrderStatus{Charge: m, StartCount: n, Status: model.Status(s), Currency: "CNY", HasRuns: true, Runs: n}}}
			want := reflectiveList(t, l)
			if got := l.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("list %q:\n got %s\nwant %s", s, got, want)
			}
			j, err := json.Marshal(l) // through MarshalJSON, as writeJSON's fallback would
			if err != nil || !bytes.Equal(j, want) {
				t.Fatalf("json.Marshal(list %q) = %s, %v; want %s", s, j, err, want)
			}
			wantOne, _ := json.Marshal(reflectiveStatus{m.String(), strconv.FormatInt(n, 10), "In progress", strconv.FormatInt(-n, 10), s, nil})
			if got := o.AppendJSON([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), wantOne...)) {
				t.Fatalf("one %q: got %s want %s", s, got, wantOne)
			}
			wantBal, _ := json.Marshal(struct {
				B string `json:"balance"`
				C string `json:"currency"`
			}{m.String(), s})
			if got := (BalanceResult{Balance: m, Currency: s}).AppendJSON(nil); !bytes.Equal(got, wantBal) {
				t.Fatalf("balance %q: got %s want %s", s, got, wantBal)
			}
		}
	}
}

func strings1000() string { return string(bytes.Repeat([]byte("a1"), 500)) }
