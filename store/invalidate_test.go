package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"smmapi/model"
	"smmapi/service"
)

// A change made outside HTTP — the service objects called directly, as a
// worker would — drops every instance's caches by the time the call
// returns: instance B's cached catalog entry and key look-up see it at
// once. Two Redis buses on one Redis are the two instances on MySQL; the
// embedded mode has one process and its in-process bus.
func TestWritePathInvalidation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() time.Time { return time.Now().UTC() }
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			var busA, busB interface {
				service.Bus
				OnEvent(func(string))
			}
			if name == MySQL {
				var b [6]byte
				rand.Read(b[:])
				prefix := "smmapi:test:" + hex.EncodeToString(b[:]) + ":"
				a := NewRedisBus(mustRedis(t), prefix, nil, nil, time.Now, log)
				bb := NewRedisBus(mustRedis(t), prefix, nil, nil, time.Now, log)
				go a.Run(ctx)
				go bb.Run(ctx)
				for !a.Live() || !bb.Live() {
					time.Sleep(10 * time.Millisecond)
				}
				busA, busB = a, bb
			} else {
				m := NewMemoryBus()
				busA, busB = m, m
			}
			// Instance B serves the public API from its caches.
			servicesB := service.NewServices(db, db, busB, now, 1<<20)
			authB := service.NewAuth(db, db, now, log, busB, "alnum")
			busB.OnEvent(func(topic string) { servicesB.Invalidate(topic); authB.Invalidate(topic) })

			// Instance A changes things without any HTTP request.
			inv := service.NewInvalidator(busA, service.NopRecorder{}, log)
			catalog := service.NewCatalog(db, db, db, inv)
			users := service.NewUsers(db, "CNY", inv)
			keys := service.NewAPIKeys(db, db, db, NewMemoryCooldowns(time.Now), 0, now, log, service.NopRecorder{}, inv)

			str := func(s string) *string { return &s }
			num := func(s string) *json.Number { n := json.Number(s); return &n }
			svc, err := catalog.Create(ctx, service.ServiceInput{Name: str("F"), Type: str("Default"), Category: str("I"),
				Rate: num("1"), Min: num("1"), Max: num("10")})
			if err != nil {
				t.Fatal(err)
			}
			if s, err := servicesB.Service(ctx, svc.ID); err != nil || s.Rate != model.Money(10000) {
				t.Fatalf("B reads %+v, %v", s, err)
			}
			if _, err := catalog.Patch(ctx, svc.ID, service.ServiceInput{Rate: num("2")}); err != nil {
				t.Fatal(err)
			}
			if s, _ := servicesB.Service(ctx, svc.ID); s.Rate != model.Money(20000) {
				t.Fatalf("B still reads rate %s after the change returned", s.Rate)
			}

			u, err := users.Create(ctx, service.UserInput{Username: "w"})
			if err != nil {
				t.Fatal(err)
			}
			k, err := keys.Generate(ctx, u.ID, service.APIKeyInput{SiteID: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := authB.Authenticate(ctx, k.Key, ""); err != nil {
				t.Fatalf("B refuses a fresh key: %v", err)
			}
			yes := true
			if _, err := users.Patch(ctx, u.ID, service.UserPatch{Disabled: &yes}); err != nil {
				t.Fatal(err)
			}
			if _, err := authB.Authenticate(ctx, k.Key, ""); service.ErrorCode(err) != service.ErrUnauthorized {
				t.Fatalf("B still accepts the key of a disabled account: %v", err)
			}
		})
	}
}
