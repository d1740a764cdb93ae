package service

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The service layer never depends on the web framework, the ORM or Redis.
func TestNoFrameworkImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/labstack/echo", "gorm.io/", "github.com/redis/go-redis"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("service depends on %s", dep)
			}
		}
	}
}

func TestParseIDList(t *testing.T) {
	hundred := strings.Repeat("a,", 99) + "a"
	distinct := make([]string, 101)
	for i := range distinct {
		distinct[i] = "id" + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"a", []string{"a"}, false},
		{"a,b", []string{"a", "b"}, false},
		{" a , b ,", []string{"a", "b"}, false},
		{"b,a,b,a", []string{"b", "a"}, false},
		{hundred, []string{"a"}, false},
		{",,,", nil, true},
		{"", nil, true},
		{strings.Join(distinct, ","), nil, true},
		{strings.Join(distinct[:100], ","), distinct[:100], false},
	}
	for _, tt := range tests {
		got, err := parseIDList(tt.in)
		if (err != nil) != tt.wantErr || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("parseIDList(%.40q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNewOrderID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		id, err := NewOrderID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 10 || !plausibleOrderID(id) {
			t.Fatalf("bad ID %q", id)
		}
		if seen[id] {
			t.Fatalf("repeated ID %q", id)
		}
		seen[id] = true
	}
}

func TestNewNumericOrderID(t *testing.T) {
	lo, hi := int64(maxNumericID), int64(minNumericID)
	for i := 0; i < 20000; i++ {
		id, err := NewOrderIDIn(FormatNumeric)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || len(id) != 10 || n < minNumericID || n > maxNumericID || !plausibleOrderID(id) {
			t.Fatalf("bad numeric ID %q", id)
		}
		lo, hi = min(lo, n), max(hi, n)
	}
	// 20000 uniform draws reach near both ends of the range.
	if lo > minNumericID+100_000_000 || hi < maxNumericID-100_000_000 {
		t.Errorf("draws span only [%d, %d]", lo, hi)
	}
	if id, _ := NewOrderIDIn(FormatAlnum); len(id) != 10 {
		t.Errorf("alnum ID %q", id)
	}
}
