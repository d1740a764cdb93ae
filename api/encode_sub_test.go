package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"smmapi/model"
	"smmapi/service"
)

// reflectiveSub is a subscription's status through encoding/json.
type reflectiveSub struct {
	Charge   string             `json:"charge"`
	Status   string             `json:"status"`
	Expiry   *string            `json:"expiry"`
	Posts    string             `json:"posts"`
	Orders   []service.OrderRef `json:"orders"`
	Currency string             `json:"currency"`
}

func TestAppendSubscriptionStatusMatchesEncodingJSON(t *testing.T) {
	refs := [][]service.OrderRef{{}, {{ID: "b76VJizQKZ"}}, {{ID: "1483920175", Numeric: true}, {ID: "a<b&\"c"}, {ID: "é"}}}
	for _, expiry := range []string{"", "31/12/2026", "<\u2028>"} {
		for _, orders := range refs {
			for _, m := range []model.Money{0, 1, 127500, 12345678901234} {
				s := service.OrderStatus{Sub: true, Charge: m, Status: model.StatusPaused, Expiry: expiry,
					Posts: int64(len(orders)), Orders: orders, Currency: "CNY"}
				r := reflectiveSub{Charge: m.String(), Status: "Paused", Posts: strconv.Itoa(len(orders)), Orders: orders, Currency: "CNY"}
				if expiry != "" {
					r.Expiry = &expiry
				}
				want, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				if got, ok := appendAnswer(nil, s); !ok || !bytes.Equal(got, want) {
					t.Errorf("got  %s\nwant %s", got, want)
				}
				l := service.StatusList{{ID: "k", Order: &s}}
				wantList := append(append([]byte(`{"k":`), want...), '}')
				if got, _ := appendAnswer(nil, l); !bytes.Equal(got, wantList) {
					t.Errorf("list got %s\nwant %s", got, wantList)
				}
			}
		}
	}
}
