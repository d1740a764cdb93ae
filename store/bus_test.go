package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"smmapi/service"
)

func mustRedis(t *testing.T) *redis.Client {
	t.Helper()
	addr := os.Getenv("SMMAPI_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SMMAPI_TEST_REDIS_ADDR not set under CI")
		}
		t.Skip("SMMAPI_TEST_REDIS_ADDR not set")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis %s: %v", addr, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Publish returns only once every instance that heard the event has run
// its handlers: a slow instance is waited for, a silent one for at most
// ackWait, and nothing fails.
func TestRedisBusPublishWaitsForEveryInstance(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var b [6]byte
	rand.Read(b[:])
	prefix := "smmapi:test:" + hex.EncodeToString(b[:]) + ":"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	a := NewRedisBus(mustRedis(t), prefix, nil, nil, time.Now, log)
	slow := NewRedisBus(mustRedis(t), prefix, nil, nil, time.Now, log)
	var dropped atomic.Int32
	slow.OnEvent(func(topic string) {
		if topic == service.TopicKeys {
			time.Sleep(300 * time.Millisecond) // a busy instance
			dropped.Add(1)
		}
	})
	go a.Run(ctx)
	go slow.Run(ctx)
	for !a.Live() || !slow.Live() {
		time.Sleep(10 * time.Millisecond)
	}
	for i := int32(1); i <= 3; i++ {
		if err := a.Publish(ctx, service.TopicKeys); err != nil {
			t.Fatal(err)
		}
		if got := dropped.Load(); got != i {
			t.Fatalf("publish %d returned before the other instance dropped its cache (%d drops)", i, got)
		}
	}

	// A subscriber that never confirms (an older or hung instance) delays
	// the publisher by AckWait at most, and is reported as unconfirmed.
	mute := mustRedis(t).Subscribe(ctx, prefix+"events")
	defer mute.Close()
	if _, err := mute.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.Publish(ctx, service.TopicCatalog); !errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("publish with a silent subscriber: %v, want ErrUnconfirmed", err)
	}
	if took := time.Since(start); took < a.AckWait || took > a.AckWait+time.Second {
		t.Fatalf("publish with a silent subscriber took %v, want about %v", took, a.AckWait)
	}
}
