package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"smmapi/model"
	"smmapi/service"
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

func reflectiveList(t *testing.T, l service.StatusList) []byte {
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
		var v any = service.ItemError{Error: e.Error}
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

func TestAppendAnswerMatchesEncodingJSON(t *testing.T) {
	odd := []string{"", "12", "<", ">", "&", "\"", "\\", "\x7f", "\x01", "\u00e9", "abc", `a"b`, `a\b`, "<script>&", "tab\tnew\nline\r", "\x00\x1f\x7f",
		"é中文", "\u2028\u2029", "\xff\xfe bad utf8", "emoji 😀", strings1000()}
	for _, s := range odd {
		for i, m := range []model.Money{0, 1, -1, 85000, 12345678901234} {
			n := []int64{0, 1, -1, 1000000, 9223372036854775807}[i]
			o := &service.OrderStatus{Charge: m, StartCount: n, Status: "In progress", Remains: -n, Currency: s}
			l := service.StatusList{{ID: s, Order: o}, {ID: s + "x", Error: s},
				{ID: "9", Order: &service.OrderStatus{Charge: m, StartCount: n, Status: model.Status(s), Currency: "CNY", HasRuns: true, Runs: n}}}
			want := reflectiveList(t, l)
			if got, ok := appendAnswer(nil, l); !ok || !bytes.Equal(got, want) {
				t.Fatalf("list %q:\n got %s\nwant %s", s, got, want)
			}
			wantOne, _ := json.Marshal(reflectiveStatus{m.String(), strconv.FormatInt(n, 10), "In progress", strconv.FormatInt(-n, 10), s, nil})
			if got, _ := appendAnswer([]byte("prefix"), *o); !bytes.Equal(got, append([]byte("prefix"), wantOne...)) {
				t.Fatalf("one %q: got %s want %s", s, got, wantOne)
			}
			wantBal, _ := json.Marshal(struct {
				B string `json:"balance"`
				C string `json:"currency"`
			}{m.String(), s})
			bal := service.BalanceResult{Balance: m, Currency: s}
			if got, _ := appendAnswer(nil, bal); !bytes.Equal(got, wantBal) {
				t.Fatalf("balance %q: got %s want %s", s, got, wantBal)
			}
			if j, _ := json.Marshal(bal); !bytes.Equal(j, wantBal) {
				t.Fatalf("json.Marshal(balance %q) = %s, want %s", s, j, wantBal)
			}
			for _, ref := range []service.OrderRef{{ID: s}, {ID: "1483920175", Numeric: true}} {
				add := service.AddResult{Order: ref}
				got, _ := appendAnswer(nil, add)
				want, _ := json.Marshal(add) // OrderRef's own MarshalJSON
				if !bytes.Equal(got, want) {
					t.Fatalf("add %+v: got %s want %s", ref, got, want)
				}
			}
			ie := service.ItemError{Error: s}
			if got, _ := appendAnswer(nil, ie); !bytes.Equal(got, mustMarshal(t, ie)) {
				t.Fatalf("error %q: got %s", s, got)
			}
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func strings1000() string { return string(bytes.Repeat([]byte("a1"), 500)) }
