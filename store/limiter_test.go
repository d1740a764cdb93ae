package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// limiterUnderTest is one limiter and how its clock moves: the memory
// limiter's is injected, Redis' is its own (TIME), so there the test waits.
type limiterUnderTest struct {
	name string
	lim  interface {
		Allow(ctx context.Context, name string, rate, burst int) (bool, time.Duration, error)
		Locked(ctx context.Context, client string) (time.Duration, error)
		Fail(ctx context.Context, client string, max int, window, lockout time.Duration) error
	}
	advance func(time.Duration)
	fake    bool // the clock is injected: long waits cost nothing
}

func limitersUnderTest(t *testing.T) []limiterUnderTest {
	now := time.Unix(1_800_000_000, 0)
	mem := limiterUnderTest{name: "memory", lim: NewMemoryLimiter(func() time.Time { return now }),
		advance: func(d time.Duration) { now = now.Add(d) }, fake: true}
	out := []limiterUnderTest{mem}
	if os.Getenv("SMMAPI_TEST_REDIS_ADDR") == "" && os.Getenv("CI") != "true" {
		t.Log("SMMAPI_TEST_REDIS_ADDR not set: the memory limiter only")
		return out
	}
	rdb := mustRedis(t)
	prefix := randomPrefix("smmapi:test:")
	t.Cleanup(func() { mustDelPrefix(t, rdb, prefix) })
	return append(out, limiterUnderTest{name: "redis", lim: NewRedisLimiter(rdb, prefix, nil), advance: time.Sleep})
}

// The GCRA contract the API relies on, on both limiters: a burst, then
// refusals whose retry-after is the wait until one more request fits, a
// refill at the rate, refusals that take nothing, and keys independent of
// each other. 2/s keeps Redis' real clock from refilling mid-burst.
func TestLimiterAllow(t *testing.T) {
	type step struct {
		wait  time.Duration // before the call; -1: the retry-after of the last refusal
		key   string
		ok    bool
		retry time.Duration // on a refusal, the most retry-after may be
	}
	const rate, burst = 2, 3
	interval := time.Second / rate
	fill := []step{{key: "a", ok: true}, {key: "a", ok: true}, {key: "a", ok: true}}
	cases := []struct {
		name  string
		steps []step
	}{
		{"burst, then refused with one interval's retry-after", append(fill[:3:3], step{key: "a", retry: interval})},
		{"a refusal takes nothing", append(fill[:3:3], step{key: "a", retry: interval}, step{key: "a", retry: interval})},
		{"refills at the rate", append(fill[:3:3], step{key: "a", retry: interval},
			step{wait: -1, key: "a", ok: true}, step{key: "a", retry: interval})},
		{"other keys keep their burst", append(fill[:3:3], step{key: "a", retry: interval},
			step{key: "b", ok: true}, step{key: "b", ok: true}, step{key: "b", ok: true}, step{key: "b", retry: interval})},
	}
	for _, l := range limitersUnderTest(t) {
		for i, c := range cases {
			t.Run(l.name+"/"+c.name, func(t *testing.T) {
				ctx := context.Background()
				var last time.Duration
				for j, s := range c.steps {
					switch {
					case s.wait < 0:
						l.advance(last + 20*time.Millisecond) // Redis' clock and ours may differ by a little
					case s.wait > 0:
						l.advance(s.wait)
					}
					name := "allow" + strconv.Itoa(i) + ":" + s.key // a fresh bucket per case
					ok, retry, err := l.lim.Allow(ctx, name, rate, burst)
					if err != nil {
						t.Fatalf("step %d: %v", j, err)
					}
					if ok != s.ok || (ok && retry != 0) || (!ok && (retry <= 0 || retry > s.retry)) {
						t.Fatalf("step %d: Allow = %v, %v; want %v, retry-after in (0, %v]", j, ok, retry, s.ok, s.retry)
					}
					last = retry
				}
			})
		}
	}
}

// Many keys each get their own burst.
func TestLimiterManyKeys(t *testing.T) {
	for _, l := range limitersUnderTest(t) {
		t.Run(l.name, func(t *testing.T) {
			for k := 0; k < 200; k++ {
				name := "many:" + strconv.Itoa(k)
				for i := 0; i < 2; i++ {
					if ok, _, err := l.lim.Allow(context.Background(), name, 1, 2); !ok || err != nil {
						t.Fatalf("key %d request %d: %v, %v", k, i, ok, err)
					}
				}
				if ok, _, _ := l.lim.Allow(context.Background(), name, 1, 2); ok {
					t.Fatalf("key %d: third request allowed past a burst of 2", k)
				}
			}
		})
	}
}

// The max-th failure within the window locks the client out for the
// lockout, and no one else.
func TestLimiterLockout(t *testing.T) {
	const max, window, lockout = 3, 10 * time.Minute, 15 * time.Minute
	for _, l := range limitersUnderTest(t) {
		t.Run(l.name, func(t *testing.T) {
			ctx := context.Background()
			locked := func(client string) time.Duration {
				t.Helper()
				d, err := l.lim.Locked(ctx, client)
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			for i := 1; i <= max; i++ {
				if d := locked("203.0.113.66"); d != 0 {
					t.Fatalf("locked (%v) after %d failures of %d", d, i-1, max)
				}
				if err := l.lim.Fail(ctx, "203.0.113.66", max, window, lockout); err != nil {
					t.Fatal(err)
				}
			}
			if d := locked("203.0.113.66"); d < lockout-time.Second || d > lockout {
				t.Fatalf("after %d failures locked for %v, want %v", max, d, lockout)
			}
			if d := locked("2001:db8::66"); d != 0 {
				t.Fatalf("another client locked for %v", d)
			}
			if l.fake {
				l.advance(lockout)
				if d := locked("203.0.113.66"); d != 0 {
					t.Fatalf("still locked for %v after the lockout", d)
				}
			}
		})
	}
}

// A Redis that fails makes every call return its error (the API then fails
// open), and an open breaker answers ErrDown without touching Redis.
func TestRedisLimiterFailsOpen(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	defer dead.Close()
	brk := NewBreaker("redis", func(context.Context) error { return errors.New("down") }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, c := range []struct {
		name string
		brk  *Breaker
		open bool
		want error // nil: any error
	}{
		{"refused connection", nil, false, nil},
		{"breaker open", brk, true, ErrDown},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.open {
				c.brk.record(errors.New("down"))
			}
			r := NewRedisLimiter(dead, "smmapi:test:", c.brk)
			ctx := context.Background()
			calls := map[string]error{}
			ok, retry, err := r.Allow(ctx, "ip:1", 1, 1)
			if ok || retry != 0 {
				t.Errorf("Allow = %v, %v beside its error", ok, retry)
			}
			calls["Allow"] = err
			d, err := r.Locked(ctx, "1")
			if d != 0 {
				t.Errorf("Locked = %v beside its error", d)
			}
			calls["Locked"] = err
			calls["Fail"] = r.Fail(ctx, "1", 3, time.Minute, time.Minute)
			for name, err := range calls {
				if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
					t.Errorf("%s: err = %v, want %v", name, err, c.want)
				}
			}
		})
	}
}

// Redis Cluster runs failScript only when its two keys share a hash slot.
func TestFailKeysShareASlot(t *testing.T) {
	for key, want := range map[string]uint16{"foo": 12182, "bar": 5061, "{user1000}.following": 3443} {
		if got := keySlot(key); got != want { // slots from the Cluster specification's examples
			t.Fatalf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
	for _, prefix := range []string{"smmapi:", "", "{smmapi}:", "a:b:"} {
		for _, client := range []string{"203.0.113.66", "2001:db8::1", "::1"} {
			r := NewRedisLimiter(nil, prefix, nil)
			if f, l := keySlot(r.failKey(client)), keySlot(r.lockKey(client)); f != l {
				t.Errorf("prefix %q client %q: %s in slot %d, %s in slot %d", prefix, client, r.failKey(client), f, r.lockKey(client), l)
			}
		}
	}
}

// keySlot is Redis Cluster's slot of key: CRC16 (XMODEM) of its hash tag,
// or of the whole key when it has none, modulo 16384.
func keySlot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}
