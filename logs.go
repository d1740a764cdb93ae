package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"smmapi/service"
)

// routeDriverLogs sends go-redis's and the MySQL driver's own log lines
// (plain text on stderr by default) into the JSON log, at warn, throttled
// per dependency and message kind. Both hooks are process-global by
// nature, so they are set here, once, in main's wiring.
func routeDriverLogs(log *slog.Logger) {
	t := service.NewLogThrottle(log, time.Second, time.Now)
	redis.SetLogger(redisLog{t})
	_ = mysqldrv.SetLogger(mysqlLog{t})
}

type redisLog struct{ t *service.LogThrottle }

// Printf keys the throttle on the format: one kind per message template.
func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.t.Log(ctx, slog.LevelWarn, "redis:"+format, "driver log", "dependency", "redis", "detail", fmt.Sprintf(format, v...))
}

type mysqlLog struct{ t *service.LogThrottle }

// Print gets formatted values; their text without digits (addresses, ports,
// counts) keys the throttle.
func (l mysqlLog) Print(v ...any) {
	text := strings.TrimSpace(fmt.Sprint(v...))
	l.t.Log(context.Background(), slog.LevelWarn, "mysql:"+logKind(text), "driver log", "dependency", "database", "detail", text)
}

// logKind is text without digits, cut at 80 bytes.
func logKind(text string) string {
	k := strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return -1
		}
		return r
	}, text)
	if len(k) > 80 {
		k = k[:80]
	}
	return k
}
