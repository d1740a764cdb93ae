package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// OpenRedis connects to Redis and checks it answers.
func OpenRedis(ctx context.Context, addr, password string, db int) (*redis.Client, error) {
	rdb := redis.NewClient(&redis.Options{
		Addr: addr, Password: password, DB: db,
		// Short timeouts and one retry: Redis only gates and throttles, so a
		// slow or dead Redis must cost a request little before failing open.
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		MaxRetries: 1,
		// One dial attempt: go-redis's default of 5 with 100 ms pauses made
		// every call to a refusing Redis cost half a second.
		DialerRetries: 1,
		// Deadlines of the caller's context bound the socket I/O too: the
		// limiter gives each call a few tens of milliseconds (redisGate).
		ContextTimeoutEnabled: true,
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect redis %s: %w", addr, err)
	}
	return rdb, nil
}

// NewRedisBreaker returns the breaker of rdb: PING with a short timeout.
func NewRedisBreaker(rdb redis.UniversalClient, log *slog.Logger) *Breaker {
	b := NewBreaker("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() }, log)
	b.Timeout = 250 * time.Millisecond
	return b
}

// redisGate bounds each Redis call by timeout and skips Redis while its
// breaker knows it is down, so that a silent Redis costs a request at most
// one timeout before the breaker opens, and nothing after.
type redisGate struct {
	brk     *Breaker
	timeout time.Duration
}

// do runs fn with a bounded context; a failure other than redis.Nil asks
// the breaker for a probe.
func (g redisGate) do(ctx context.Context, fn func(ctx context.Context) error) error {
	if g.brk.Open() {
		return fmt.Errorf("redis: %w", ErrDown)
	}
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	err := fn(ctx)
	if err != nil && !errors.Is(err, redis.Nil) && !errors.Is(err, context.Canceled) {
		g.brk.Suspect()
	}
	return err
}
