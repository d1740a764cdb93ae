package model

import (
	"encoding/json"
	"math"
	"testing"
)

func TestMoneyString(t *testing.T) {
	tests := []struct {
		in   Money
		want string
	}{
		{0, "0.0000"},
		{1, "0.0001"},
		{85000, "8.5000"},
		{2782, "0.2782"},
		{1008429, "100.8429"},
		{-1, "-0.0001"},
		{-12345678, "-1234.5678"},
		{10000, "1.0000"},
		{math.MaxInt64, "922337203685477.5807"},
		{math.MinInt64, "-922337203685477.5808"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Money(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		b, _ := json.Marshal(tt.in)
		if string(b) != `"`+tt.want+`"` {
			t.Errorf("json of %d = %s", int64(tt.in), b)
		}
	}
}

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in      string
		want    Money
		wantErr error
	}{
		{"8.5", 85000, nil},
		{"8.5000", 85000, nil},
		{"0.0001", 1, nil},
		{"-0.0001", -1, nil},
		{"+3", 30000, nil},
		{"100", 1000000, nil},
		{".5", 5000, nil},
		{"10000000000", 100000000000000, nil},
		{"0.00001", 0, ErrMoneyPrecision},
		{"1.23456", 0, ErrMoneyPrecision},
		{"10000000000.0001", 0, ErrMoneyRange},
		{"1e3", 0, ErrMoneyFormat},
		{"", 0, ErrMoneyFormat},
		{"abc", 0, ErrMoneyFormat},
		{"1.2.3", 0, ErrMoneyFormat},
		{"--1", 0, ErrMoneyFormat},
		{"-", 0, ErrMoneyFormat},
		{".", 0, ErrMoneyFormat},
		{"0x10", 0, ErrMoneyFormat},
		{"1 000", 0, ErrMoneyFormat},
		{"NaN", 0, ErrMoneyFormat},
		{"١٢", 0, ErrMoneyFormat},
	}
	for _, tt := range tests {
		got, err := ParseMoney(tt.in)
		if err != tt.wantErr || got != tt.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
