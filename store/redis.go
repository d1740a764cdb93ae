package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig says which Redis to use: one server (Addrs has one address)
// or a Redis Cluster (Cluster, Addrs its seeds).
type RedisConfig struct {
	Addrs    []string
	Cluster  bool
	Password string
	DB       int
}

// OpenRedis connects to Redis (one server or a cluster) and checks it
// answers.
func OpenRedis(ctx context.Context, c RedisConfig) (redis.UniversalClient, error) {
	// Short timeouts and one retry: Redis only gates and throttles, so a
	// slow or dead Redis must cost a request little before failing open.
	// One dial attempt: go-redis's default of 5 with 100 ms pauses made
	// every call to a refusing Redis cost half a second. Deadlines of the
	// caller's context bound the socket I/O too: the limiter gives each
	// call a few tens of milliseconds (redisGate).
	const timeout = 500 * time.Millisecond
	var rdb redis.UniversalClient
	if c.Cluster {
		rdb = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: c.Addrs, Password: c.Password,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
			MaxRetries: 1, DialerRetries: 1, ContextTimeoutEnabled: true,
			// A MOVED or ASK (a slot migrating, a failover) is followed
			// within the same call.
			MaxRedirects: 3,
		})
	} else {
		rdb = redis.NewClient(&redis.Options{
			Addr: c.Addrs[0], Password: c.Password, DB: c.DB,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
			MaxRetries: 1, DialerRetries: 1, ContextTimeoutEnabled: true,
		})
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect redis %s: %w", strings.Join(c.Addrs, ","), err)
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		// PING reaches one node; the cluster must also cover every slot,
		// or some keys (limits, lockouts) would fail.
		info, err := cc.ClusterInfo(pctx).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			rdb.Close()
			return nil, fmt.Errorf("redis cluster %s is not ok: %v %s", strings.Join(c.Addrs, ","), err, firstLine(info))
		}
	}
	return rdb, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
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
