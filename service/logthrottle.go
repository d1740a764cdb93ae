package service

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LogThrottle keeps a fault from flooding the log: the first line of each
// kind is written, then at most one per interval, carrying how many lines
// of that kind were suppressed since ("suppressed":N). A dependency that
// fails every request then costs a line per second, not one per request.
type LogThrottle struct {
	log   *slog.Logger
	every time.Duration
	now   Clock
	mu    sync.Mutex
	kinds map[string]*logKind
}

type logKind struct {
	last       time.Time
	suppressed int
}

// maxLogKinds bounds the map; kinds are message templates, so a few dozen.
const maxLogKinds = 1024

// NewLogThrottle returns a throttle writing to log.
func NewLogThrottle(log *slog.Logger, every time.Duration, now Clock) *LogThrottle {
	return &LogThrottle{log: log, every: every, now: now, kinds: map[string]*logKind{}}
}

// Log writes msg at level unless a line of kind was written within the
// interval, in which case it only counts it.
func (t *LogThrottle) Log(ctx context.Context, level slog.Level, kind, msg string, args ...any) {
	now := t.now()
	t.mu.Lock()
	k, ok := t.kinds[kind]
	if !ok {
		if len(t.kinds) >= maxLogKinds {
			t.kinds = map[string]*logKind{}
		}
		k = &logKind{}
		t.kinds[kind] = k
	}
	if ok && now.Sub(k.last) < t.every {
		k.suppressed++
		t.mu.Unlock()
		return
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	t.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	t.log.Log(ctx, level, msg, args...)
}
