package service

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogThrottle(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewLogThrottle(slog.New(slog.NewJSONHandler(&buf, nil)), time.Second, func() time.Time { return now })
	steps := []struct {
		advance time.Duration
		kind    string
		want    int // -1: not written; else the suppressed count written (0: none)
	}{
		{0, "db", 0},
		{100 * time.Millisecond, "db", -1},
		{100 * time.Millisecond, "db", -1},
		{0, "redis", 0}, // another kind is not held back
		{900 * time.Millisecond, "db", 2},
		{500 * time.Millisecond, "db", -1},
		{2 * time.Second, "db", 1},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		buf.Reset()
		th.Log(context.Background(), slog.LevelWarn, s.kind, "fault")
		out := strings.TrimSpace(buf.String())
		if s.want < 0 {
			if out != "" {
				t.Errorf("step %d: wrote %s, want nothing", i, out)
			}
			continue
		}
		var line struct {
			Suppressed *int `json:"suppressed"`
		}
		if err := json.Unmarshal([]byte(out), &line); err != nil {
			t.Fatalf("step %d: %q: %v", i, out, err)
		}
		got := 0
		if line.Suppressed != nil {
			got = *line.Suppressed
		}
		if got != s.want {
			t.Errorf("step %d: suppressed %d, want %d", i, got, s.want)
		}
	}
}
