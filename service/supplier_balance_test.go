package service

import (
	"maps"
	"testing"
)

func TestParseBalanceFloors(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    BalanceFloors
		wantErr bool
	}{
		{in: "50", want: BalanceFloors{Default: 50}},
		{in: "", want: BalanceFloors{}},
		{in: "0", want: BalanceFloors{}},
		{in: "12.5, 3=200 ,7=0", want: BalanceFloors{Default: 12.5, PerSupplier: map[uint64]float64{3: 200, 7: 0}}},
		{in: "3=200", want: BalanceFloors{PerSupplier: map[uint64]float64{3: 200}}},
		{in: "-1", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "Inf", wantErr: true},
		{in: "ten", wantErr: true},
		{in: "50,60", wantErr: true},
		{in: "50,0=10", wantErr: true},
		{in: "50,x=10", wantErr: true},
		{in: "50,3=", wantErr: true},
	} {
		got, err := ParseBalanceFloors(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseBalanceFloors(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		if got.Default != tc.want.Default || !maps.Equal(got.PerSupplier, tc.want.PerSupplier) {
			t.Errorf("ParseBalanceFloors(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	f, _ := ParseBalanceFloors("50,3=200")
	if f.floor(3) != 200 || f.floor(4) != 50 {
		t.Errorf("floor(3), floor(4) = %v, %v; want 200, 50", f.floor(3), f.floor(4))
	}
}

func TestParseBalance(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{in: `{"balance":"100.84292","currency":"USD"}`, want: 100.84292},
		{in: `{"balance":100.5,"currency":"USD"}`, want: 100.5},
		{in: `{"balance":" -3.2 "}`, want: -3.2},
		{in: `{"balance":"0"}`, want: 0},
		{in: `{"currency":"USD"}`, wantErr: true},
		{in: `{"balance":"lots"}`, wantErr: true},
		{in: `{"balance":null}`, wantErr: true},
		{in: `[]`, wantErr: true},
	} {
		got, err := parseBalance([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseBalance(%s) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
